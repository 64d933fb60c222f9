/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Port-forward to a pod over WebSocket (subprotocol v4.channel.k8s.io): a
 * local TCP listener; each accepted connection gets its own WebSocket to
 * /api/v1/namespaces/NS/pods/POD/portforward?ports=PORT and its own thread,
 * so a slow local reader stops reading from the API (backpressure) without
 * stalling the other connections or the caller's main loop.
 */
#pragma once

#include "pds-kube-client.h"

G_BEGIN_DECLS

#define PDS_TYPE_KUBE_PORT_FORWARD (pds_kube_port_forward_get_type())
G_DECLARE_FINAL_TYPE(PdsKubePortForward, pds_kube_port_forward, PDS, KUBE_PORT_FORWARD, GObject)

/*
 * Signals (emitted in the main context of the thread that called _listen()):
 *   "connection-error" (const GError *error)   one tunnel failed; the message
 *                                              names the pod and the port
 */

PdsKubePortForward *pds_kube_port_forward_new(PdsKubeClient *client,
					      const char *namespace_,
					      const char *pod,
					      guint16 remote_port);
/* Listens on @address (NULL = 127.0.0.1) and @port (0 = pick one). */
gboolean pds_kube_port_forward_listen(PdsKubePortForward *self,
				      const char *address,
				      guint16 port,
				      GError **error);
guint16 pds_kube_port_forward_get_local_port(PdsKubePortForward *self);
/* Open tunnels right now. */
guint pds_kube_port_forward_get_active(PdsKubePortForward *self);
/* Stops listening and closes every tunnel (asynchronously; threads end soon after). */
void pds_kube_port_forward_stop(PdsKubePortForward *self);

G_END_DECLS
