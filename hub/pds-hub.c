/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#define G_LOG_DOMAIN "PdsHub"

#include "pds-hub.h"

#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

#include "pds-hub-api.h"
#include "pds-hub-ingest.h"
#include "pds-hub-join.h"
#include "pds-hub-names.h"
#include "pds-hub-source.h"
#include "pds-hub-store.h"
#include "pds-tls.h"

struct _PdsHub {
	PdsHubConfig config;
	PdsTlsIdentity *identity;
	PdsTlsIdentity *ca;
	PdsHubNames *names;
	PdsHubStore *store;
	PdsHubSourceTable *sources;
	PdsHubIngest *ingest;
	PdsHubJoin *join;
	PdsHubApi *api;
	guint16 ingest_port;
	guint16 api_port;
};

void
pds_hub_config_clear(PdsHubConfig *config)
{
	g_free(config->data_dir);
	g_free(config->ca_path);
	g_free(config->cert_path);
	g_free(config->key_path);
	g_free(config->token);
	g_free(config->ingest_address);
	g_free(config->api_address);
	g_strfreev(config->names);
	g_free(config->ca_key_path);
	g_free(config->join_secret_path);
	memset(config, 0, sizeof(*config));
}

PdsHub *
pds_hub_new(const PdsHubConfig *config, GError **error)
{
	g_autoptr(PdsHub) hub = g_new0(PdsHub, 1);
	PdsHubStoreConfig store_config = {0};
	PdsHubIngestConfig ingest_config = {0};

	g_return_val_if_fail(config != NULL, NULL);
	g_return_val_if_fail(config->data_dir != NULL, NULL);
	g_return_val_if_fail(config->token != NULL, NULL);

	hub->config.data_dir = g_strdup(config->data_dir);
	hub->config.ingest_address =
		g_strdup(config->ingest_address != NULL ? config->ingest_address : "0.0.0.0:7443");
	hub->config.api_address =
		g_strdup(config->api_address != NULL ? config->api_address : "0.0.0.0:8080");

	hub->identity = pds_tls_identity_new_from_files(config->cert_path, config->key_path, error);
	if (hub->identity == NULL) {
		g_prefix_error(error, "cannot load the hub certificate: ");
		return NULL;
	}
	if ((config->ca_key_path == NULL) != (config->join_secret_path == NULL)) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				    "join needs both --ca-key and --join-secret-file");
		return NULL;
	}
	if (config->ca_key_path != NULL) {
		/* With the key: the hub signs the certificates of joining sources. */
		hub->ca = pds_tls_identity_new_from_files(config->ca_path, config->ca_key_path,
							  error);
	} else {
		/* Only the certificate: the hub verifies sources, it signs nothing. */
		hub->ca = pds_tls_identity_new_trust_from_file(config->ca_path, error);
	}
	if (hub->ca == NULL) {
		g_prefix_error(error, "cannot load the session CA: ");
		return NULL;
	}

	hub->names = pds_hub_names_new();
	for (guint i = 0; config->names != NULL && config->names[i] != NULL; i++) {
		if (!pds_hub_names_add_spec(hub->names, config->names[i], error))
			return NULL;
	}

	store_config.data_dir = config->data_dir;
	store_config.chunk_size = config->chunk_size;
	store_config.retention = config->retention;
	store_config.ring_size = config->ring_size;
	hub->store = pds_hub_store_new(&store_config, hub->names);
	if (pds_hub_store_get_failure(hub->store) != NULL)
		g_printerr("podscope-hub: WARNING: %s; blocks are kept in RAM only until the data "
			   "directory works\n",
			   pds_hub_store_get_failure(hub->store));
	hub->sources = pds_hub_source_table_new();

	if (config->join_secret_path != NULL) {
		hub->join = pds_hub_join_new(hub->ca, config->join_secret_path, config->data_dir,
					     hub->names, error);
		if (hub->join == NULL)
			return NULL;
	}
	ingest_config.identity = hub->identity;
	ingest_config.ca = hub->ca;
	ingest_config.join = hub->join;
	hub->ingest = pds_hub_ingest_new(&ingest_config, hub->store, hub->sources);
	hub->api = pds_hub_api_new(config->token, hub->store, hub->sources);
	return g_steal_pointer(&hub);
}

gboolean
pds_hub_start(PdsHub *hub, GError **error)
{
	if (!pds_hub_ingest_listen(hub->ingest, hub->config.ingest_address, &hub->ingest_port,
				   error))
		return FALSE;
	if (!pds_hub_api_listen(hub->api, hub->config.api_address, &hub->api_port, error))
		return FALSE;
	g_message("listening: ingest (mutual TLS) on %s, port %u; API on %s, port %u; data in %s",
		  hub->config.ingest_address, hub->ingest_port, hub->config.api_address,
		  hub->api_port, hub->config.data_dir);
	return TRUE;
}

guint16
pds_hub_get_ingest_port(PdsHub *hub)
{
	return hub->ingest_port;
}

guint16
pds_hub_get_api_port(PdsHub *hub)
{
	return hub->api_port;
}

gboolean
pds_hub_write_ready_file(PdsHub *hub, const char *path, GError **error)
{
	g_autofree gchar *json =
		g_strdup_printf("{\"ingest_port\":%u,\"api_port\":%u,\"pid\":%d}\n",
				hub->ingest_port, hub->api_port, (int)getpid());
	if (!g_file_set_contents(path, json, -1, error)) {
		g_prefix_error(error, "cannot write the ready file: ");
		return FALSE;
	}
	return TRUE;
}

void
pds_hub_stop(PdsHub *hub)
{
	if (hub->ingest != NULL)
		pds_hub_ingest_close_all(hub->ingest, "the hub is shutting down");
}

void
pds_hub_free(PdsHub *hub)
{
	if (hub == NULL)
		return;
	g_clear_pointer(&hub->api, pds_hub_api_free);
	g_clear_pointer(&hub->ingest, pds_hub_ingest_free);
	g_clear_pointer(&hub->join, pds_hub_join_free);
	g_clear_pointer(&hub->sources, pds_hub_source_table_free);
	g_clear_pointer(&hub->store, pds_hub_store_free);
	g_clear_pointer(&hub->names, pds_hub_names_free);
	g_clear_pointer(&hub->identity, pds_tls_identity_free);
	g_clear_pointer(&hub->ca, pds_tls_identity_free);
	pds_hub_config_clear(&hub->config);
	g_free(hub);
}
