/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pcapng constants shared by every reader and writer of PodScope streams.
 * Numbers are those of the IETF draft "PCAP Now Generic" (opsawg-pcapng).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Block types */
#define PDS_PCAPNG_BT_SHB	    0x0A0D0D0Au
#define PDS_PCAPNG_BT_IDB	    0x00000001u
#define PDS_PCAPNG_BT_SPB	    0x00000003u
#define PDS_PCAPNG_BT_NRB	    0x00000004u
#define PDS_PCAPNG_BT_ISB	    0x00000005u
#define PDS_PCAPNG_BT_EPB	    0x00000006u
#define PDS_PCAPNG_BT_CUSTOM	    0x00000BADu /* copyable custom block */
#define PDS_PCAPNG_BT_CUSTOM_NOCOPY 0x40000BADu

#define PDS_PCAPNG_BYTE_ORDER_MAGIC 0x1A2B3C4Du

/* Generic options */
#define PDS_PCAPNG_OPT_ENDOFOPT	  0
#define PDS_PCAPNG_OPT_COMMENT	  1
#define PDS_PCAPNG_OPT_CUSTOM_STR 2988 /* copyable, UTF-8 after the PEN */
#define PDS_PCAPNG_OPT_CUSTOM_BIN 2989 /* copyable, binary after the PEN */

/* Section Header Block options */
#define PDS_PCAPNG_SHB_HARDWARE 2
#define PDS_PCAPNG_SHB_OS	3
#define PDS_PCAPNG_SHB_USERAPPL 4

/* Interface Description Block options */
#define PDS_PCAPNG_IF_NAME	  2
#define PDS_PCAPNG_IF_DESCRIPTION 3
#define PDS_PCAPNG_IF_TSRESOL	  9
#define PDS_PCAPNG_IF_FILTER	  11
#define PDS_PCAPNG_IF_OS	  12

/* Enhanced Packet Block options */
#define PDS_PCAPNG_EPB_FLAGS	 2
#define PDS_PCAPNG_EPB_DROPCOUNT 4
#define PDS_PCAPNG_EPB_PACKETID	 5

/* Interface Statistics Block options */
#define PDS_PCAPNG_ISB_STARTTIME    2
#define PDS_PCAPNG_ISB_ENDTIME	    3
#define PDS_PCAPNG_ISB_IFRECV	    4
#define PDS_PCAPNG_ISB_IFDROP	    5
#define PDS_PCAPNG_ISB_FILTERACCEPT 6
#define PDS_PCAPNG_ISB_OSDROP	    7
#define PDS_PCAPNG_ISB_USRDELIV	    8

/* Name Resolution Block record types */
#define PDS_PCAPNG_NRB_END  0
#define PDS_PCAPNG_NRB_IPV4 1
#define PDS_PCAPNG_NRB_IPV6 2

/* Link types we write */
#define PDS_LINKTYPE_ETHERNET		 1
#define PDS_LINKTYPE_RAW		 101
#define PDS_LINKTYPE_LINUX_SLL		 113
#define PDS_LINKTYPE_WIRESHARK_UPPER_PDU 252
#define PDS_LINKTYPE_LINUX_SLL2		 276

/*
 * IANA's Private Enterprise Number reserved for documentation (RFC 5612).
 * Every PodScope custom block and custom option carries it; one constant so a
 * registered PEN can replace it in one place.
 */
#define PDS_PEN 32473u

/* Blocks are padded to 32 bits; a sane upper bound protects readers from garbage. */
#define PDS_PCAPNG_MAX_BLOCK (16u * 1024u * 1024u)

G_END_DECLS
