/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * File-descriptor watches for the hot paths (capture ring, uplink and ingest
 * sockets, BPF ring buffer) that keep their descriptors in the main loop's
 * poll set while they are dispatched.
 *
 * Why: GLib 2.74 (Debian 12) blocks a source that cannot recurse for the
 * length of its dispatch by taking its descriptors out of the poll set and
 * putting them back afterwards, and each of those two changes signals the
 * context's wake-up eventfd. Every wake-up of a watch then costs two write()s,
 * one more poll() and a read() on top of its own work: strace showed 7 system
 * calls per 10 ms capture wake-up of the agent where 2 do the work. None of our
 * callbacks runs a nested main loop while its own source is live, so letting
 * the source recurse changes nothing else.
 */
#pragma once

#include <glib-unix.h>

G_BEGIN_DECLS

/* Like g_unix_fd_add(), without the per-dispatch poll-set churn. */
guint pds_fd_watch_add(gint fd, GIOCondition condition, GUnixFDSourceFunc func, gpointer user_data);

/* Attaches a descriptor source (g_socket_create_source() and the like) to
 * @context (NULL: the default) without the per-dispatch poll-set churn. */
guint pds_fd_watch_attach(GSource *source, GMainContext *context);

G_END_DECLS
