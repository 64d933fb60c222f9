/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libyaml event stream -> JsonNode tree. Anchors and aliases are resolved by
 * copying the anchored node; merge keys ("<<") are kept as ordinary members
 * because kubeconfigs do not use them.
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsKube"

#include "pds-kube-yaml.h"

#include <string.h>
#include <yaml.h>

/* Spelled out: clang-format would put spaces into G_DEFINE_QUARK's name. */
GQuark
pds_kube_yaml_error_quark(void)
{
	return g_quark_from_static_string("pds-kube-yaml-error-quark");
}

/* Bounds nesting so a hostile file cannot exhaust the stack. */
#define PDS_KUBE_YAML_MAX_DEPTH 64

typedef struct {
	yaml_parser_t parser;
	const char *origin;
	GHashTable *anchors; /* anchor name -> JsonNode */
} PdsKubeYamlParser;

static gboolean
pds_kube_yaml_next(PdsKubeYamlParser *p, yaml_event_t *event, GError **error)
{
	if (!yaml_parser_parse(&p->parser, event)) {
		g_set_error(error, PDS_KUBE_YAML_ERROR, PDS_KUBE_YAML_ERROR_PARSE,
			    "%s: line %zu column %zu: %s%s%s", p->origin,
			    p->parser.problem_mark.line + 1, p->parser.problem_mark.column + 1,
			    p->parser.problem != NULL ? p->parser.problem : "invalid YAML",
			    p->parser.context != NULL ? " " : "",
			    p->parser.context != NULL ? p->parser.context : "");
		return FALSE;
	}
	return TRUE;
}

static JsonNode *
pds_kube_yaml_node(PdsKubeYamlParser *p, yaml_event_t *event, guint depth, GError **error);

static void
pds_kube_yaml_remember(PdsKubeYamlParser *p, const yaml_char_t *anchor, JsonNode *node)
{
	if (anchor == NULL)
		return;
	g_hash_table_replace(p->anchors, g_strdup((const char *)anchor), json_node_copy(node));
}

static JsonNode *
pds_kube_yaml_scalar(yaml_event_t *event)
{
	const char *value = (const char *)event->data.scalar.value;
	JsonNode *node;

	/* Plain empty, "~" and "null" are YAML's null; quoted ones are strings. */
	if (event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (event->data.scalar.length == 0 || g_strcmp0(value, "~") == 0 ||
	     g_strcmp0(value, "null") == 0 || g_strcmp0(value, "Null") == 0 ||
	     g_strcmp0(value, "NULL") == 0))
		return json_node_new(JSON_NODE_NULL);
	node = json_node_new(JSON_NODE_VALUE);
	json_node_set_string(node, value);
	return node;
}

static JsonNode *
pds_kube_yaml_mapping(PdsKubeYamlParser *p, guint depth, GError **error)
{
	g_autoptr(JsonObject) object = json_object_new();
	JsonNode *node;

	for (;;) {
		yaml_event_t event;
		g_autofree gchar *key = NULL;
		JsonNode *value;

		if (!pds_kube_yaml_next(p, &event, error))
			return NULL;
		if (event.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&event);
			break;
		}
		if (event.type != YAML_SCALAR_EVENT) {
			g_set_error(error, PDS_KUBE_YAML_ERROR, PDS_KUBE_YAML_ERROR_TYPE,
				    "%s: line %zu: mapping keys must be plain strings", p->origin,
				    event.start_mark.line + 1);
			yaml_event_delete(&event);
			return NULL;
		}
		key = g_strdup((const char *)event.data.scalar.value);
		yaml_event_delete(&event);
		if (!pds_kube_yaml_next(p, &event, error))
			return NULL;
		value = pds_kube_yaml_node(p, &event, depth + 1, error);
		yaml_event_delete(&event);
		if (value == NULL)
			return NULL;
		json_object_set_member(object, key, value);
	}
	node = json_node_new(JSON_NODE_OBJECT);
	json_node_set_object(node, object);
	return node;
}

static JsonNode *
pds_kube_yaml_sequence(PdsKubeYamlParser *p, guint depth, GError **error)
{
	g_autoptr(JsonArray) array = json_array_new();
	JsonNode *node;

	for (;;) {
		yaml_event_t event;
		JsonNode *value;

		if (!pds_kube_yaml_next(p, &event, error))
			return NULL;
		if (event.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&event);
			break;
		}
		value = pds_kube_yaml_node(p, &event, depth + 1, error);
		yaml_event_delete(&event);
		if (value == NULL)
			return NULL;
		json_array_add_element(array, value);
	}
	node = json_node_new(JSON_NODE_ARRAY);
	json_node_set_array(node, array);
	return node;
}

static JsonNode *
pds_kube_yaml_node(PdsKubeYamlParser *p, yaml_event_t *event, guint depth, GError **error)
{
	JsonNode *node = NULL;

	if (depth > PDS_KUBE_YAML_MAX_DEPTH) {
		g_set_error(error, PDS_KUBE_YAML_ERROR, PDS_KUBE_YAML_ERROR_PARSE,
			    "%s: line %zu: nested deeper than %u levels", p->origin,
			    event->start_mark.line + 1, PDS_KUBE_YAML_MAX_DEPTH);
		return NULL;
	}
	switch (event->type) {
	case YAML_SCALAR_EVENT:
		node = pds_kube_yaml_scalar(event);
		pds_kube_yaml_remember(p, event->data.scalar.anchor, node);
		return node;
	case YAML_MAPPING_START_EVENT:
		node = pds_kube_yaml_mapping(p, depth, error);
		if (node != NULL)
			pds_kube_yaml_remember(p, event->data.mapping_start.anchor, node);
		return node;
	case YAML_SEQUENCE_START_EVENT:
		node = pds_kube_yaml_sequence(p, depth, error);
		if (node != NULL)
			pds_kube_yaml_remember(p, event->data.sequence_start.anchor, node);
		return node;
	case YAML_ALIAS_EVENT:
		node = g_hash_table_lookup(p->anchors, event->data.alias.anchor);
		if (node == NULL) {
			g_set_error(error, PDS_KUBE_YAML_ERROR, PDS_KUBE_YAML_ERROR_PARSE,
				    "%s: line %zu: unknown alias *%s", p->origin,
				    event->start_mark.line + 1, event->data.alias.anchor);
			return NULL;
		}
		return json_node_copy(node);
	default:
		g_set_error(error, PDS_KUBE_YAML_ERROR, PDS_KUBE_YAML_ERROR_PARSE,
			    "%s: line %zu: unexpected YAML event %d", p->origin,
			    event->start_mark.line + 1, (int)event->type);
		return NULL;
	}
}

JsonNode *
pds_kube_yaml_parse(const char *data, gssize len, const char *origin, GError **error)
{
	PdsKubeYamlParser p = {0};
	JsonNode *root = NULL;
	gboolean done = FALSE;

	g_return_val_if_fail(data != NULL, NULL);

	if (len < 0)
		len = strlen(data);
	if (!yaml_parser_initialize(&p.parser)) {
		g_set_error(error, PDS_KUBE_YAML_ERROR, PDS_KUBE_YAML_ERROR_PARSE,
			    "%s: cannot initialise the YAML parser", origin);
		return NULL;
	}
	p.origin = origin != NULL ? origin : "<data>";
	p.anchors = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					  (GDestroyNotify)json_node_unref);
	yaml_parser_set_input_string(&p.parser, (const unsigned char *)data, (size_t)len);

	while (!done) {
		yaml_event_t event;

		if (!pds_kube_yaml_next(&p, &event, error)) {
			g_clear_pointer(&root, json_node_unref);
			break;
		}
		switch (event.type) {
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_START_EVENT:
			break;
		case YAML_DOCUMENT_END_EVENT:
		case YAML_STREAM_END_EVENT:
			done = TRUE;
			break;
		default:
			root = pds_kube_yaml_node(&p, &event, 0, error);
			if (root == NULL)
				done = TRUE;
			break;
		}
		yaml_event_delete(&event);
	}
	yaml_parser_delete(&p.parser);
	g_hash_table_unref(p.anchors);
	/* An empty file is an empty mapping, as kubectl treats it. */
	if (root == NULL && (error == NULL || *error == NULL)) {
		root = json_node_new(JSON_NODE_OBJECT);
		json_node_take_object(root, json_object_new());
	}
	return root;
}

gboolean
pds_kube_yaml_get_string(JsonObject *object, const char *member, const char **value, GError **error)
{
	JsonNode *node = json_object_get_member(object, member);

	*value = NULL;
	if (node == NULL || JSON_NODE_HOLDS_NULL(node))
		return TRUE;
	if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING) {
		g_set_error(error, PDS_KUBE_YAML_ERROR, PDS_KUBE_YAML_ERROR_TYPE,
			    "\"%s\" must be a string", member);
		return FALSE;
	}
	*value = json_node_get_string(node);
	return TRUE;
}

gboolean
pds_kube_yaml_get_bool(JsonObject *object, const char *member, gboolean *value, GError **error)
{
	JsonNode *node = json_object_get_member(object, member);
	const char *s;

	*value = FALSE;
	if (node == NULL || JSON_NODE_HOLDS_NULL(node))
		return TRUE;
	if (JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_BOOLEAN) {
		*value = json_node_get_boolean(node);
		return TRUE;
	}
	s = JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING
		    ? json_node_get_string(node)
		    : NULL;
	if (g_strcmp0(s, "true") == 0 || g_strcmp0(s, "True") == 0 || g_strcmp0(s, "TRUE") == 0) {
		*value = TRUE;
		return TRUE;
	}
	if (g_strcmp0(s, "false") == 0 || g_strcmp0(s, "False") == 0 || g_strcmp0(s, "FALSE") == 0)
		return TRUE;
	g_set_error(error, PDS_KUBE_YAML_ERROR, PDS_KUBE_YAML_ERROR_TYPE,
		    "\"%s\" must be true or false", member);
	return FALSE;
}

gboolean
pds_kube_yaml_get_object(JsonObject *object, const char *member, JsonObject **value, GError **error)
{
	JsonNode *node = json_object_get_member(object, member);

	*value = NULL;
	if (node == NULL || JSON_NODE_HOLDS_NULL(node))
		return TRUE;
	if (!JSON_NODE_HOLDS_OBJECT(node)) {
		g_set_error(error, PDS_KUBE_YAML_ERROR, PDS_KUBE_YAML_ERROR_TYPE,
			    "\"%s\" must be a mapping", member);
		return FALSE;
	}
	*value = json_node_get_object(node);
	return TRUE;
}

gboolean
pds_kube_yaml_get_array(JsonObject *object, const char *member, JsonArray **value, GError **error)
{
	JsonNode *node = json_object_get_member(object, member);

	*value = NULL;
	if (node == NULL || JSON_NODE_HOLDS_NULL(node))
		return TRUE;
	if (!JSON_NODE_HOLDS_ARRAY(node)) {
		g_set_error(error, PDS_KUBE_YAML_ERROR, PDS_KUBE_YAML_ERROR_TYPE,
			    "\"%s\" must be a list", member);
		return FALSE;
	}
	*value = json_node_get_array(node);
	return TRUE;
}
