/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The PodScope record: one self-delimiting, versioned binary structure that
 * travels in a pcapng Custom Block (PEN PDS_PEN) or as an Exported PDU.
 *
 *   u16 record_type  u16 record_version  u32 record_length (whole record)
 *   u32 interface_id u32 ts_high u32 ts_low (nanoseconds since the epoch)
 *   TLV fields: u16 code, u16 length, value, zero-padded to 4 bytes; code 0 ends.
 *
 * Records are always little-endian, whatever the byte order of the pcapng
 * section around them: they are opaque payload to pcapng, and a fixed order
 * lets the dissector decode them without knowing the envelope.
 * Readers skip codes they do not know. Fields marked (repeat) may occur more
 * than once. Strings are UTF-8 without a terminating NUL.
 *
 * This header is the only definition; the Wireshark plugin includes it too,
 * so it uses nothing but plain C types and must stay free of GLib.
 */
#pragma once

#include <stdint.h>

#define PDS_RECORD_VERSION    1
#define PDS_RECORD_HEADER_LEN 20
#define PDS_RECORD_MAX_LEN    (1024u * 1024u)

/* Name the dissector registers and the exported-PDU envelope names. */
#define PDS_RECORD_PROTO_NAME "podscope"

typedef enum {
	PDS_RECORD_FILE_ACCESS = 1,
	PDS_RECORD_FLOW = 2,
	PDS_RECORD_SOURCE = 3,
	/* Wire control between a source and the hub; never stored or served. */
	PDS_RECORD_CONTROL = 4,
} PdsRecordType;

/* Type 1: file access (snoop). */
typedef enum {
	PDS_FILE_SYSCALL = 1,	     /* string: "openat", "execve", "io_uring_openat", ... */
	PDS_FILE_PATH = 2,	     /* string: normalised absolute path */
	PDS_FILE_RAW_PATH = 3,	     /* string: the path as requested, when it differs */
	PDS_FILE_PID = 4,	     /* u32: thread id */
	PDS_FILE_TGID = 5,	     /* u32: process id */
	PDS_FILE_COMM = 6,	     /* string */
	PDS_FILE_CGROUP_ID = 7,	     /* u64 */
	PDS_FILE_CONTAINER_NAME = 8, /* string */
	PDS_FILE_CONTAINER_ID = 9,   /* string */
	PDS_FILE_FLAGS = 10,	     /* u32: open flags / AT_* flags */
	PDS_FILE_MODE = 11,	     /* u32: mode argument */
	PDS_FILE_RESULT = 12,	     /* i64: return value (fd, 0, -errno) */
	PDS_FILE_RESOLVED_PATH = 13, /* string: kernel path of the returned fd */
	PDS_FILE_PATH_STATUS = 14,   /* u32: PdsFilePathStatus bits */
	PDS_FILE_COMPAT = 15,	     /* u8: 1 when made through the 32-bit ABI */
	PDS_FILE_COUNT = 16,	     /* u64: accesses seen (with --stream-all, 1) */
	PDS_FILE_POD = 17,	     /* string: pod name */
	PDS_FILE_NAMESPACE = 18,     /* string: pod namespace */
} PdsFileField;

typedef enum {
	PDS_FILE_PATH_TRUNCATED = 1 << 0,  /* longer than the kernel side could copy */
	PDS_FILE_PATH_UNRESOLVED = 1 << 1, /* relative, and cwd/dirfd could not be resolved */
	PDS_FILE_PATH_FROM_ENTRY = 1 << 2, /* read at syscall entry, not exit */
	PDS_FILE_PATH_INTERP = 1 << 3,	   /* loaded by exec (#! or PT_INTERP), no syscall */
} PdsFilePathStatus;

/* Type 2: flow (TCP/TLS/HTTP summary, the agent's analyzer). */
typedef enum {
	PDS_FLOW_EVENT = 1,	       /* u8: PdsFlowEvent, why the record was emitted */
	PDS_FLOW_STREAM_ID = 2,	       /* u64: ties the record to the flow's packets */
	PDS_FLOW_SRC_ADDR = 3,	       /* 4 or 16 bytes: client address */
	PDS_FLOW_DST_ADDR = 4,	       /* 4 or 16 bytes: server address */
	PDS_FLOW_SRC_PORT = 5,	       /* u16 */
	PDS_FLOW_DST_PORT = 6,	       /* u16 */
	PDS_FLOW_IP_PROTO = 7,	       /* u8: 6 for TCP */
	PDS_FLOW_PROTOCOL = 8,	       /* u8: PdsFlowProtocol */
	PDS_FLOW_TCP_STATE = 9,	       /* u8: PdsFlowTcpState */
	PDS_FLOW_ANOMALIES = 10,       /* u32: PdsFlowAnomaly bits */
	PDS_FLOW_ANOMALY_TEXT = 11,    /* string: what was wrong, for people */
	PDS_FLOW_SRC_NAME = 12,	       /* string: pod or service name of the client */
	PDS_FLOW_DST_NAME = 13,	       /* string: pod or service name of the server */
	PDS_FLOW_FIRST_PACKET_NS = 14, /* u64: epoch ns of the flow's first packet */

	PDS_FLOW_T_TCP_HANDSHAKE = 20, /* u64 ns: SYN -> SYN-ACK */
	PDS_FLOW_T_TLS_HANDSHAKE = 21, /* u64 ns: ClientHello -> handshake done */
	PDS_FLOW_T_SERVER = 22,	       /* u64 ns: request last byte -> response first byte */
	PDS_FLOW_T_TRANSFER = 23,      /* u64 ns: response first -> last byte */
	PDS_FLOW_T_TOTAL = 24,	       /* u64 ns: request first byte -> response last byte,
					* or the connection's lifetime on connection end */

	PDS_FLOW_BYTES_C2S = 30,       /* u64: payload bytes client -> server */
	PDS_FLOW_BYTES_S2C = 31,       /* u64 */
	PDS_FLOW_PACKETS_C2S = 32,     /* u64 */
	PDS_FLOW_PACKETS_S2C = 33,     /* u64 */
	PDS_FLOW_RETRANSMISSIONS = 34, /* u64 */
	PDS_FLOW_GAP_BYTES = 35,       /* u64: bytes never seen (holes) */

	PDS_FLOW_TLS_SNI = 40,		   /* string */
	PDS_FLOW_TLS_ALPN_OFFERED = 41,	   /* string (repeat) */
	PDS_FLOW_TLS_ALPN = 42,		   /* string: chosen */
	PDS_FLOW_TLS_VERSION = 43,	   /* u16: negotiated, e.g. 0x0304 */
	PDS_FLOW_TLS_CIPHER = 44,	   /* u16: chosen cipher suite */
	PDS_FLOW_TLS_HRR = 45,		   /* u8: 1 after a HelloRetryRequest */
	PDS_FLOW_TLS_ENCRYPTED_BYTES = 46, /* u64: application data bytes */
	PDS_FLOW_TLS_CLIENT_VERSIONS = 47, /* u16 (repeat): supported_versions offered */

	PDS_FLOW_HTTP_METHOD = 50,	      /* string */
	PDS_FLOW_HTTP_URI = 51,		      /* string: request target as sent */
	PDS_FLOW_HTTP_VERSION = 52,	      /* string: "HTTP/1.1" */
	PDS_FLOW_HTTP_STATUS = 53,	      /* u16 */
	PDS_FLOW_HTTP_REASON = 54,	      /* string */
	PDS_FLOW_HTTP_REQUEST_HEADER = 55,    /* string "Name: value" (repeat) */
	PDS_FLOW_HTTP_RESPONSE_HEADER = 56,   /* string "Name: value" (repeat) */
	PDS_FLOW_HTTP_REQUEST_BODY = 57,      /* bytes: the first bytes of the body */
	PDS_FLOW_HTTP_REQUEST_BODY_LEN = 58,  /* u64: full decoded length */
	PDS_FLOW_HTTP_RESPONSE_BODY = 59,     /* bytes */
	PDS_FLOW_HTTP_RESPONSE_BODY_LEN = 60, /* u64 */
	PDS_FLOW_HTTP_HOST = 61,	      /* string: Host header, for quick filters */
	PDS_FLOW_HTTP_REQUEST_INDEX = 62,     /* u32: 0-based position on the connection */
	PDS_FLOW_HTTP_INTERIM_STATUS = 63,    /* u16 (repeat): 1xx answers before the final one */
	PDS_FLOW_HTTP_EXCHANGES = 64,	      /* u32: exchanges seen on the connection (end) */
} PdsFlowField;

typedef enum {
	PDS_FLOW_EVENT_HTTP_EXCHANGE = 1,  /* a request/response pair completed */
	PDS_FLOW_EVENT_TLS_HANDSHAKE = 2,  /* a TLS handshake completed */
	PDS_FLOW_EVENT_CONNECTION_END = 3, /* FIN, RST, idle timeout or eviction */
} PdsFlowEvent;

typedef enum {
	PDS_FLOW_PROTOCOL_TCP = 1,
	PDS_FLOW_PROTOCOL_TLS = 2,
	PDS_FLOW_PROTOCOL_HTTP = 3,
} PdsFlowProtocol;

typedef enum {
	PDS_FLOW_TCP_CONNECTING = 1,
	PDS_FLOW_TCP_CONNECTED = 2,
	PDS_FLOW_TCP_CLOSED = 3, /* FIN both ways */
	PDS_FLOW_TCP_RESET = 4,
	PDS_FLOW_TCP_TIMED_OUT = 5, /* idle timeout */
	PDS_FLOW_TCP_EVICTED = 6,   /* memory limits */
	PDS_FLOW_TCP_MIDSTREAM = 7, /* seen without its handshake */
} PdsFlowTcpState;

typedef enum {
	PDS_FLOW_ANOMALY_GAP = 1 << 0,
	PDS_FLOW_ANOMALY_HTTP_MALFORMED = 1 << 1,
	PDS_FLOW_ANOMALY_HTTP_HEADERS_TOO_LARGE = 1 << 2,
	PDS_FLOW_ANOMALY_HTTP_BAD_CHUNK = 1 << 3,
	PDS_FLOW_ANOMALY_TLS_MALFORMED = 1 << 4,
	PDS_FLOW_ANOMALY_NOT_HTTP = 1 << 5,
	PDS_FLOW_ANOMALY_MEMORY_LIMIT = 1 << 6,
	PDS_FLOW_ANOMALY_RETRANSMISSION = 1 << 7,
	PDS_FLOW_ANOMALY_OVERLAP_MISMATCH = 1 << 8,
	PDS_FLOW_ANOMALY_UPGRADED = 1 << 9,
} PdsFlowAnomaly;

/*
 * Type 3: source identity and counters. Sent by a source after its SHB and
 * whenever its counters change (drops), stored by the hub, shown by the
 * dissector (with expert info when something was dropped).
 */
typedef enum {
	PDS_SOURCE_ROLE = 1,		/* string: "agent" or "snoop" */
	PDS_SOURCE_VERSION = 2,		/* string */
	PDS_SOURCE_ID = 3,		/* string: stable for the process's life */
	PDS_SOURCE_NAMESPACE = 4,	/* string */
	PDS_SOURCE_POD = 5,		/* string */
	PDS_SOURCE_NODE = 6,		/* string */
	PDS_SOURCE_CONTAINER = 7,	/* string */
	PDS_SOURCE_INTERFACE = 8,	/* string: captured interface */
	PDS_SOURCE_KERNEL_RECEIVED = 9, /* u64: ps_recv */
	PDS_SOURCE_KERNEL_DROPPED = 10, /* u64: ps_drop */
	PDS_SOURCE_IF_DROPPED = 11,	/* u64: ps_ifdrop */
	PDS_SOURCE_SPOOL_DROPPED = 12,	/* u64: blocks dropped past the spool limit */
	PDS_SOURCE_SPOOL_BYTES = 13,	/* u64: bytes waiting in the spool */
	PDS_SOURCE_EVENTS_LOST = 14,	/* u64: eBPF ring buffer losses */
	PDS_SOURCE_MESSAGE = 15,	/* string: a human-readable note */
} PdsSourceField;

/* Type 4: control messages of the ingest wire (see README, "The wire"). */
typedef enum {
	PDS_CONTROL_KIND = 1,	     /* u8: PdsControlKind */
	PDS_CONTROL_SEQ = 2,	     /* u64 */
	PDS_CONTROL_SOURCE_ID = 3,   /* string */
	PDS_CONTROL_MESSAGE = 4,     /* string */
	PDS_CONTROL_CSR = 5,	     /* string: PEM certificate request (JOIN) */
	PDS_CONTROL_CERTIFICATE = 6, /* string: PEM certificate (JOINED) */
} PdsControlField;

typedef enum {
	PDS_CONTROL_HELLO = 1,	    /* hub -> source: SEQ = last data block stored for SOURCE_ID */
	PDS_CONTROL_START = 2,	    /* source -> hub: SEQ = sequence of the next data block */
	PDS_CONTROL_ACK = 3,	    /* hub -> source: every block up to SEQ is stored */
	PDS_CONTROL_HEARTBEAT = 4,  /* both ways, when idle */
	PDS_CONTROL_CHECKPOINT = 5, /* in hub chunk files only: SOURCE_ID stored up to SEQ */
	PDS_CONTROL_GOODBYE = 6,    /* either side: closing on purpose, MESSAGE says why */
	/* source -> hub on a connection without a client certificate: MESSAGE =
	 * join token, CSR = the source's certificate request */
	PDS_CONTROL_JOIN = 7,
	PDS_CONTROL_JOINED = 8, /* hub -> source: CERTIFICATE = the issued client certificate */
} PdsControlKind;
