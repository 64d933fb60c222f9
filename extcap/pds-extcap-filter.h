/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An output stream in front of the extcap fifo that passes a pcapng stream
 * through block by block and leaves out PodScope file-access records (both
 * envelopes), for captures the user asked to have without file accesses.
 * Partial blocks wait inside until complete, so the fifo only ever gets whole
 * blocks.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define PDS_TYPE_EXTCAP_FILTER (pds_extcap_filter_get_type())
G_DECLARE_FINAL_TYPE(PdsExtcapFilter, pds_extcap_filter, PDS, EXTCAP_FILTER, GFilterOutputStream)

PdsExtcapFilter *pds_extcap_filter_new(GOutputStream *base);
/* File-access records left out so far. */
guint64 pds_extcap_filter_get_dropped(PdsExtcapFilter *self);

G_END_DECLS
