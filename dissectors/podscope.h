/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The "podscope" protocol: PodScope records (lib/pds-record.h) in either
 * envelope, an Exported PDU naming "podscope" or a pcapng Custom Block.
 */
#pragma once

/* Wireshark calls these through the plugin table (podscope-plugin.c). */
void proto_register_podscope(void);
void proto_reg_handoff_podscope(void);
