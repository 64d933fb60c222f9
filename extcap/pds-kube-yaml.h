/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * YAML (and JSON, its subset as kubeconfigs use it) into a json-glib tree, so
 * kubeconfig, ExecCredential and API objects share one set of accessors.
 * YAML scalars stay strings; the pds_kube_yaml_get_* helpers convert them.
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define PDS_KUBE_YAML_ERROR (pds_kube_yaml_error_quark())
GQuark pds_kube_yaml_error_quark(void);

typedef enum {
	PDS_KUBE_YAML_ERROR_PARSE, /* syntax error; the message has line and column */
	PDS_KUBE_YAML_ERROR_TYPE,  /* a field has the wrong type */
} PdsKubeYamlError;

/* Parses the first document of @data; @origin (a file name) is used in errors. */
JsonNode *pds_kube_yaml_parse(const char *data, gssize len, const char *origin, GError **error);

/* Field accessors on a mapping; NULL/FALSE when absent. Wrong types set @error. */
gboolean pds_kube_yaml_get_string(JsonObject *object,
				  const char *member,
				  const char **value,
				  GError **error);
gboolean
pds_kube_yaml_get_bool(JsonObject *object, const char *member, gboolean *value, GError **error);
/* A mapping member (NULL when absent or null). */
gboolean pds_kube_yaml_get_object(JsonObject *object,
				  const char *member,
				  JsonObject **value,
				  GError **error);
/* A sequence member (NULL when absent or null). */
gboolean
pds_kube_yaml_get_array(JsonObject *object, const char *member, JsonArray **value, GError **error);

G_END_DECLS
