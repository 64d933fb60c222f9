/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Dissector for PodScope records (layout and field codes in lib/pds-record.h).
 *
 * A record reaches us in one of two envelopes:
 *  - an Exported PDU (link type 252) whose tags name "podscope": the
 *    exported_pdu dissector finds us by the name we register;
 *  - a pcapng Custom Block with our PEN: Wireshark 4.0 hands those to the
 *    "data" dissector only, so a postdissector picks them up; Wireshark 4.4
 *    and later have the "pcapng_custom_block" table, used when it exists.
 *
 * Records are little-endian whatever the envelope's byte order. Every field
 * value is read through tvb_get_* after an explicit bounds check so that a
 * malformed record gives expert info instead of an exception.
 */
#include "config.h"

#define G_LOG_DOMAIN "PdsDissector"

#include <errno.h>
#include <string.h>

#include <epan/packet.h>
#include <epan/addr_resolv.h>
#include <epan/expert.h>
#include <epan/ipproto.h>
#include <epan/proto_data.h>
#include <epan/to_str.h>
#include <epan/dissectors/packet-http.h>
#include <wiretap/wtap.h>

#include "pds-pcapng.h"
#include "pds-record.h"

#include "podscope.h"

static int proto_podscope = -1;
static dissector_handle_t podscope_handle;
static dissector_handle_t podscope_post_handle;
/* TRUE when Wireshark has the pcapng_custom_block table and calls us itself. */
static gboolean custom_block_table_used;

/* Header */
static int hf_type = -1;
static int hf_version = -1;
static int hf_length = -1;
static int hf_interface_id = -1;
static int hf_timestamp = -1;

/* TLV framing */
static int hf_field_code = -1;
static int hf_field_length = -1;
static int hf_field_value = -1;
static int hf_field_padding = -1;
static int hf_end = -1;
static int hf_trailer = -1;

/* Type 1: file access */
static int hf_file_syscall = -1;
static int hf_file_path = -1;
static int hf_file_raw_path = -1;
static int hf_file_pid = -1;
static int hf_file_tgid = -1;
static int hf_file_comm = -1;
static int hf_file_cgroup_id = -1;
static int hf_file_container = -1;
static int hf_file_container_id = -1;
static int hf_file_flags = -1;
static int hf_file_mode = -1;
static int hf_file_result = -1;
static int hf_file_resolved_path = -1;
static int hf_file_path_status = -1;
static int hf_file_path_status_truncated = -1;
static int hf_file_path_status_unresolved = -1;
static int hf_file_path_status_from_entry = -1;
static int hf_file_path_status_interp = -1;
static int hf_file_compat = -1;
static int hf_file_count = -1;
static int hf_file_pod = -1;
static int hf_file_namespace = -1;

/* Type 2: flow */
static int hf_flow_event = -1;
static int hf_flow_stream_id = -1;
static int hf_flow_src = -1;
static int hf_flow_dst = -1;
static int hf_flow_src_ipv6 = -1;
static int hf_flow_dst_ipv6 = -1;
static int hf_flow_srcport = -1;
static int hf_flow_dstport = -1;
static int hf_flow_ip_proto = -1;
static int hf_flow_protocol = -1;
static int hf_flow_tcp_state = -1;
static int hf_flow_anomalies = -1;
static int hf_flow_anomalies_gap = -1;
static int hf_flow_anomalies_http_malformed = -1;
static int hf_flow_anomalies_http_headers_too_large = -1;
static int hf_flow_anomalies_http_bad_chunk = -1;
static int hf_flow_anomalies_tls_malformed = -1;
static int hf_flow_anomalies_not_http = -1;
static int hf_flow_anomalies_memory_limit = -1;
static int hf_flow_anomalies_retransmission = -1;
static int hf_flow_anomalies_overlap_mismatch = -1;
static int hf_flow_anomalies_upgraded = -1;
static int hf_flow_anomaly_text = -1;
static int hf_flow_src_name = -1;
static int hf_flow_dst_name = -1;
static int hf_flow_first_packet = -1;
static int hf_flow_time_tcp_handshake = -1;
static int hf_flow_time_tls_handshake = -1;
static int hf_flow_time_server = -1;
static int hf_flow_time_transfer = -1;
static int hf_flow_time_total = -1;
static int hf_flow_bytes_c2s = -1;
static int hf_flow_bytes_s2c = -1;
static int hf_flow_packets_c2s = -1;
static int hf_flow_packets_s2c = -1;
static int hf_flow_retransmissions = -1;
static int hf_flow_gap_bytes = -1;
static int hf_flow_tls_sni = -1;
static int hf_flow_tls_alpn_offered = -1;
static int hf_flow_tls_alpn = -1;
static int hf_flow_tls_version = -1;
static int hf_flow_tls_cipher = -1;
static int hf_flow_tls_hrr = -1;
static int hf_flow_tls_encrypted_bytes = -1;
static int hf_flow_tls_client_version = -1;
static int hf_flow_http_method = -1;
static int hf_flow_http_uri = -1;
static int hf_flow_http_version = -1;
static int hf_flow_http_status = -1;
static int hf_flow_http_reason = -1;
static int hf_flow_http_request_header = -1;
static int hf_flow_http_response_header = -1;
static int hf_flow_http_request_body = -1;
static int hf_flow_http_request_body_len = -1;
static int hf_flow_http_response_body = -1;
static int hf_flow_http_response_body_len = -1;
static int hf_flow_http_host = -1;
static int hf_flow_http_request_index = -1;

/* Type 3: source */
static int hf_source_role = -1;
static int hf_source_version = -1;
static int hf_source_id = -1;
static int hf_source_namespace = -1;
static int hf_source_pod = -1;
static int hf_source_node = -1;
static int hf_source_container = -1;
static int hf_source_interface = -1;
static int hf_source_kernel_received = -1;
static int hf_source_kernel_dropped = -1;
static int hf_source_if_dropped = -1;
static int hf_source_spool_dropped = -1;
static int hf_source_spool_bytes = -1;
static int hf_source_events_lost = -1;
static int hf_source_message = -1;
static int hf_source_drops = -1;

/* Type 4: control */
static int hf_control_kind = -1;
static int hf_control_seq = -1;
static int hf_control_source_id = -1;
static int hf_control_message = -1;

static gint ett_podscope = -1;
static gint ett_field = -1;
static gint ett_path_status = -1;
static gint ett_anomalies = -1;

static expert_field ei_truncated_header = EI_INIT;
static expert_field ei_bad_length = EI_INIT;
static expert_field ei_truncated_field = EI_INIT;
static expert_field ei_bad_field_length = EI_INIT;
static expert_field ei_missing_end = EI_INIT;
static expert_field ei_after_end = EI_INIT;
static expert_field ei_unknown_type = EI_INIT;
static expert_field ei_unknown_version = EI_INIT;
static expert_field ei_unknown_field = EI_INIT;
static expert_field ei_drops = EI_INIT;
static expert_field ei_anomalies = EI_INIT;
static expert_field ei_file_failed = EI_INIT;
static expert_field ei_path_incomplete = EI_INIT;

static int *const path_status_bits[] = {
	&hf_file_path_status_truncated,
	&hf_file_path_status_unresolved,
	&hf_file_path_status_from_entry,
	&hf_file_path_status_interp,
	NULL,
};

static int *const anomaly_bits[] = {
	&hf_flow_anomalies_gap,
	&hf_flow_anomalies_http_malformed,
	&hf_flow_anomalies_http_headers_too_large,
	&hf_flow_anomalies_http_bad_chunk,
	&hf_flow_anomalies_tls_malformed,
	&hf_flow_anomalies_not_http,
	&hf_flow_anomalies_memory_limit,
	&hf_flow_anomalies_retransmission,
	&hf_flow_anomalies_overlap_mismatch,
	&hf_flow_anomalies_upgraded,
	NULL,
};

static const value_string record_type_vals[] = {
	{PDS_RECORD_FILE_ACCESS, "File access"},
	{PDS_RECORD_FLOW, "Flow"},
	{PDS_RECORD_SOURCE, "Source"},
	{PDS_RECORD_CONTROL, "Control"},
	{0, NULL},
};

static const value_string flow_event_vals[] = {
	{PDS_FLOW_EVENT_HTTP_EXCHANGE, "HTTP exchange"},
	{PDS_FLOW_EVENT_TLS_HANDSHAKE, "TLS handshake"},
	{PDS_FLOW_EVENT_CONNECTION_END, "Connection end"},
	{0, NULL},
};

static const value_string flow_protocol_vals[] = {
	{PDS_FLOW_PROTOCOL_TCP, "TCP"},
	{PDS_FLOW_PROTOCOL_TLS, "TLS"},
	{PDS_FLOW_PROTOCOL_HTTP, "HTTP"},
	{0, NULL},
};

static const value_string tcp_state_vals[] = {
	{PDS_FLOW_TCP_CONNECTING, "connecting"}, {PDS_FLOW_TCP_CONNECTED, "connected"},
	{PDS_FLOW_TCP_CLOSED, "closed"},	 {PDS_FLOW_TCP_RESET, "reset"},
	{PDS_FLOW_TCP_TIMED_OUT, "timed out"},	 {PDS_FLOW_TCP_EVICTED, "evicted"},
	{PDS_FLOW_TCP_MIDSTREAM, "midstream"},	 {0, NULL},
};

static const value_string control_kind_vals[] = {
	{PDS_CONTROL_HELLO, "HELLO"},
	{PDS_CONTROL_START, "START"},
	{PDS_CONTROL_ACK, "ACK"},
	{PDS_CONTROL_HEARTBEAT, "HEARTBEAT"},
	{PDS_CONTROL_CHECKPOINT, "CHECKPOINT"},
	{PDS_CONTROL_GOODBYE, "GOODBYE"},
	{0, NULL},
};

/* The names Wireshark's own TLS dissector shows. */
static const value_string tls_version_vals[] = {
	{0x0300, "SSLv3"},    {0x0301, "TLSv1"},    {0x0302, "TLSv1.1"},
	{0x0303, "TLSv1.2"},  {0x0304, "TLSv1.3"},  {0xfeff, "DTLSv1.0"},
	{0xfefd, "DTLSv1.2"}, {0xfefc, "DTLSv1.3"}, {0, NULL},
};

/* IANA TLS cipher suite registry, the suites current clients and servers negotiate. */
static const value_string tls_cipher_vals[] = {
	{0x0005, "TLS_RSA_WITH_RC4_128_SHA"},
	{0x000a, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"},
	{0x002f, "TLS_RSA_WITH_AES_128_CBC_SHA"},
	{0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA"},
	{0x003c, "TLS_RSA_WITH_AES_128_CBC_SHA256"},
	{0x003d, "TLS_RSA_WITH_AES_256_CBC_SHA256"},
	{0x009c, "TLS_RSA_WITH_AES_128_GCM_SHA256"},
	{0x009d, "TLS_RSA_WITH_AES_256_GCM_SHA384"},
	{0x009e, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"},
	{0x009f, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"},
	{0x1301, "TLS_AES_128_GCM_SHA256"},
	{0x1302, "TLS_AES_256_GCM_SHA384"},
	{0x1303, "TLS_CHACHA20_POLY1305_SHA256"},
	{0x1304, "TLS_AES_128_CCM_SHA256"},
	{0x1305, "TLS_AES_128_CCM_8_SHA256"},
	{0xc009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"},
	{0xc00a, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"},
	{0xc013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"},
	{0xc014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"},
	{0xc023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"},
	{0xc024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384"},
	{0xc027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"},
	{0xc028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384"},
	{0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"},
	{0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"},
	{0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
	{0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"},
	{0xcca8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"},
	{0xcca9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"},
	{0xccaa, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256"},
	{0, NULL},
};

typedef enum {
	PDS_KIND_STRING,
	PDS_KIND_BYTES,
	PDS_KIND_U8,
	PDS_KIND_BOOL8,
	PDS_KIND_U16,
	PDS_KIND_U32,
	PDS_KIND_BITS32,
	PDS_KIND_U64,
	PDS_KIND_I64,
	PDS_KIND_ADDR,	   /* 4 bytes: hf, 16 bytes: hf6 */
	PDS_KIND_DURATION, /* u64 nanoseconds */
	PDS_KIND_ABSTIME,  /* u64 nanoseconds since the epoch */
} PdsKind;

typedef struct {
	guint16 type;
	guint16 code;
	PdsKind kind;
	int *hf;
	int *hf6;	  /* PDS_KIND_ADDR: the IPv6 field */
	int *const *bits; /* PDS_KIND_BITS32 */
	gint *ett;	  /* PDS_KIND_BITS32 */
} PdsFieldDesc;

#define F(t, c, k, h)                                                                              \
	{                                                                                          \
		t, c, k, h, NULL, NULL, NULL                                                       \
	}
#define FA(t, c, h, h6)                                                                            \
	{                                                                                          \
		t, c, PDS_KIND_ADDR, h, h6, NULL, NULL                                             \
	}
#define FB(t, c, h, bits, ett)                                                                     \
	{                                                                                          \
		t, c, PDS_KIND_BITS32, h, NULL, bits, ett                                          \
	}

static const PdsFieldDesc field_descs[] = {
	F(PDS_RECORD_FILE_ACCESS, PDS_FILE_SYSCALL, PDS_KIND_STRING, &hf_file_syscall),
	F(PDS_RECORD_FILE_ACCESS, PDS_FILE_PATH, PDS_KIND_STRING, &hf_file_path),
	F(PDS_RECORD_FILE_ACCESS, PDS_FILE_RAW_PATH, PDS_KIND_STRING, &hf_file_raw_path),
	F(PDS_RECORD_FILE_ACCESS, PDS_FILE_PID, PDS_KIND_U32, &hf_file_pid),
	F(PDS_RECORD_FILE_ACCESS, PDS_FILE_TGID, PDS_KIND_U32, &hf_file_tgid),
	F(PDS_RECORD_FILE_ACCESS, PDS_FILE_COMM, PDS_KIND_STRING, &hf_file_comm),
	F(PDS_RECORD_FILE_ACCESS, PDS_FILE_CGROUP_ID, PDS_KIND_U64, &hf_file_cgroup_id),
	F(PDS_RECORD_FILE_ACCESS, PDS_FILE_CONTAINER_NAME, PDS_KIND_STRING, &hf_file_container),
	F(PDS_RECORD_FILE_ACCESS, PDS_FILE_CONTAINER_ID, PDS_KIND_STRING, &hf_file_container_id),
	F(PDS_RECORD_FILE_ACCESS, PDS_FILE_FLAGS, PDS_KIND_U32, &hf_file_flags),
	F(PDS_RECORD_FILE_ACCESS, PDS_FILE_MODE, PDS_KIND_U32, &hf_file_mode),
	F(PDS_RECORD_FILE_ACCESS, PDS_FILE_RESULT, PDS_KIND_I64, &hf_file_result),
	F(PDS_RECORD_FILE_ACCESS, PDS_FILE_RESOLVED_PATH, PDS_KIND_STRING, &hf_file_resolved_path),
	FB(PDS_RECORD_FILE_ACCESS,
	   PDS_FILE_PATH_STATUS,
	   &hf_file_path_status,
	   path_status_bits,
	   &ett_path_status),
	F(PDS_RECORD_FILE_ACCESS, PDS_FILE_COMPAT, PDS_KIND_BOOL8, &hf_file_compat),
	F(PDS_RECORD_FILE_ACCESS, PDS_FILE_COUNT, PDS_KIND_U64, &hf_file_count),
	F(PDS_RECORD_FILE_ACCESS, PDS_FILE_POD, PDS_KIND_STRING, &hf_file_pod),
	F(PDS_RECORD_FILE_ACCESS, PDS_FILE_NAMESPACE, PDS_KIND_STRING, &hf_file_namespace),

	F(PDS_RECORD_FLOW, PDS_FLOW_EVENT, PDS_KIND_U8, &hf_flow_event),
	F(PDS_RECORD_FLOW, PDS_FLOW_STREAM_ID, PDS_KIND_U64, &hf_flow_stream_id),
	FA(PDS_RECORD_FLOW, PDS_FLOW_SRC_ADDR, &hf_flow_src, &hf_flow_src_ipv6),
	FA(PDS_RECORD_FLOW, PDS_FLOW_DST_ADDR, &hf_flow_dst, &hf_flow_dst_ipv6),
	F(PDS_RECORD_FLOW, PDS_FLOW_SRC_PORT, PDS_KIND_U16, &hf_flow_srcport),
	F(PDS_RECORD_FLOW, PDS_FLOW_DST_PORT, PDS_KIND_U16, &hf_flow_dstport),
	F(PDS_RECORD_FLOW, PDS_FLOW_IP_PROTO, PDS_KIND_U8, &hf_flow_ip_proto),
	F(PDS_RECORD_FLOW, PDS_FLOW_PROTOCOL, PDS_KIND_U8, &hf_flow_protocol),
	F(PDS_RECORD_FLOW, PDS_FLOW_TCP_STATE, PDS_KIND_U8, &hf_flow_tcp_state),
	FB(PDS_RECORD_FLOW, PDS_FLOW_ANOMALIES, &hf_flow_anomalies, anomaly_bits, &ett_anomalies),
	F(PDS_RECORD_FLOW, PDS_FLOW_ANOMALY_TEXT, PDS_KIND_STRING, &hf_flow_anomaly_text),
	F(PDS_RECORD_FLOW, PDS_FLOW_SRC_NAME, PDS_KIND_STRING, &hf_flow_src_name),
	F(PDS_RECORD_FLOW, PDS_FLOW_DST_NAME, PDS_KIND_STRING, &hf_flow_dst_name),
	F(PDS_RECORD_FLOW, PDS_FLOW_FIRST_PACKET_NS, PDS_KIND_ABSTIME, &hf_flow_first_packet),
	F(PDS_RECORD_FLOW,
	  PDS_FLOW_T_TCP_HANDSHAKE,
	  PDS_KIND_DURATION,
	  &hf_flow_time_tcp_handshake),
	F(PDS_RECORD_FLOW,
	  PDS_FLOW_T_TLS_HANDSHAKE,
	  PDS_KIND_DURATION,
	  &hf_flow_time_tls_handshake),
	F(PDS_RECORD_FLOW, PDS_FLOW_T_SERVER, PDS_KIND_DURATION, &hf_flow_time_server),
	F(PDS_RECORD_FLOW, PDS_FLOW_T_TRANSFER, PDS_KIND_DURATION, &hf_flow_time_transfer),
	F(PDS_RECORD_FLOW, PDS_FLOW_T_TOTAL, PDS_KIND_DURATION, &hf_flow_time_total),
	F(PDS_RECORD_FLOW, PDS_FLOW_BYTES_C2S, PDS_KIND_U64, &hf_flow_bytes_c2s),
	F(PDS_RECORD_FLOW, PDS_FLOW_BYTES_S2C, PDS_KIND_U64, &hf_flow_bytes_s2c),
	F(PDS_RECORD_FLOW, PDS_FLOW_PACKETS_C2S, PDS_KIND_U64, &hf_flow_packets_c2s),
	F(PDS_RECORD_FLOW, PDS_FLOW_PACKETS_S2C, PDS_KIND_U64, &hf_flow_packets_s2c),
	F(PDS_RECORD_FLOW, PDS_FLOW_RETRANSMISSIONS, PDS_KIND_U64, &hf_flow_retransmissions),
	F(PDS_RECORD_FLOW, PDS_FLOW_GAP_BYTES, PDS_KIND_U64, &hf_flow_gap_bytes),
	F(PDS_RECORD_FLOW, PDS_FLOW_TLS_SNI, PDS_KIND_STRING, &hf_flow_tls_sni),
	F(PDS_RECORD_FLOW, PDS_FLOW_TLS_ALPN_OFFERED, PDS_KIND_STRING, &hf_flow_tls_alpn_offered),
	F(PDS_RECORD_FLOW, PDS_FLOW_TLS_ALPN, PDS_KIND_STRING, &hf_flow_tls_alpn),
	F(PDS_RECORD_FLOW, PDS_FLOW_TLS_VERSION, PDS_KIND_U16, &hf_flow_tls_version),
	F(PDS_RECORD_FLOW, PDS_FLOW_TLS_CIPHER, PDS_KIND_U16, &hf_flow_tls_cipher),
	F(PDS_RECORD_FLOW, PDS_FLOW_TLS_HRR, PDS_KIND_BOOL8, &hf_flow_tls_hrr),
	F(PDS_RECORD_FLOW,
	  PDS_FLOW_TLS_ENCRYPTED_BYTES,
	  PDS_KIND_U64,
	  &hf_flow_tls_encrypted_bytes),
	F(PDS_RECORD_FLOW, PDS_FLOW_TLS_CLIENT_VERSIONS, PDS_KIND_U16, &hf_flow_tls_client_version),
	F(PDS_RECORD_FLOW, PDS_FLOW_HTTP_METHOD, PDS_KIND_STRING, &hf_flow_http_method),
	F(PDS_RECORD_FLOW, PDS_FLOW_HTTP_URI, PDS_KIND_STRING, &hf_flow_http_uri),
	F(PDS_RECORD_FLOW, PDS_FLOW_HTTP_VERSION, PDS_KIND_STRING, &hf_flow_http_version),
	F(PDS_RECORD_FLOW, PDS_FLOW_HTTP_STATUS, PDS_KIND_U16, &hf_flow_http_status),
	F(PDS_RECORD_FLOW, PDS_FLOW_HTTP_REASON, PDS_KIND_STRING, &hf_flow_http_reason),
	F(PDS_RECORD_FLOW,
	  PDS_FLOW_HTTP_REQUEST_HEADER,
	  PDS_KIND_STRING,
	  &hf_flow_http_request_header),
	F(PDS_RECORD_FLOW,
	  PDS_FLOW_HTTP_RESPONSE_HEADER,
	  PDS_KIND_STRING,
	  &hf_flow_http_response_header),
	F(PDS_RECORD_FLOW, PDS_FLOW_HTTP_REQUEST_BODY, PDS_KIND_BYTES, &hf_flow_http_request_body),
	F(PDS_RECORD_FLOW,
	  PDS_FLOW_HTTP_REQUEST_BODY_LEN,
	  PDS_KIND_U64,
	  &hf_flow_http_request_body_len),
	F(PDS_RECORD_FLOW,
	  PDS_FLOW_HTTP_RESPONSE_BODY,
	  PDS_KIND_BYTES,
	  &hf_flow_http_response_body),
	F(PDS_RECORD_FLOW,
	  PDS_FLOW_HTTP_RESPONSE_BODY_LEN,
	  PDS_KIND_U64,
	  &hf_flow_http_response_body_len),
	F(PDS_RECORD_FLOW, PDS_FLOW_HTTP_HOST, PDS_KIND_STRING, &hf_flow_http_host),
	F(PDS_RECORD_FLOW, PDS_FLOW_HTTP_REQUEST_INDEX, PDS_KIND_U32, &hf_flow_http_request_index),

	F(PDS_RECORD_SOURCE, PDS_SOURCE_ROLE, PDS_KIND_STRING, &hf_source_role),
	F(PDS_RECORD_SOURCE, PDS_SOURCE_VERSION, PDS_KIND_STRING, &hf_source_version),
	F(PDS_RECORD_SOURCE, PDS_SOURCE_ID, PDS_KIND_STRING, &hf_source_id),
	F(PDS_RECORD_SOURCE, PDS_SOURCE_NAMESPACE, PDS_KIND_STRING, &hf_source_namespace),
	F(PDS_RECORD_SOURCE, PDS_SOURCE_POD, PDS_KIND_STRING, &hf_source_pod),
	F(PDS_RECORD_SOURCE, PDS_SOURCE_NODE, PDS_KIND_STRING, &hf_source_node),
	F(PDS_RECORD_SOURCE, PDS_SOURCE_CONTAINER, PDS_KIND_STRING, &hf_source_container),
	F(PDS_RECORD_SOURCE, PDS_SOURCE_INTERFACE, PDS_KIND_STRING, &hf_source_interface),
	F(PDS_RECORD_SOURCE, PDS_SOURCE_KERNEL_RECEIVED, PDS_KIND_U64, &hf_source_kernel_received),
	F(PDS_RECORD_SOURCE, PDS_SOURCE_KERNEL_DROPPED, PDS_KIND_U64, &hf_source_kernel_dropped),
	F(PDS_RECORD_SOURCE, PDS_SOURCE_IF_DROPPED, PDS_KIND_U64, &hf_source_if_dropped),
	F(PDS_RECORD_SOURCE, PDS_SOURCE_SPOOL_DROPPED, PDS_KIND_U64, &hf_source_spool_dropped),
	F(PDS_RECORD_SOURCE, PDS_SOURCE_SPOOL_BYTES, PDS_KIND_U64, &hf_source_spool_bytes),
	F(PDS_RECORD_SOURCE, PDS_SOURCE_EVENTS_LOST, PDS_KIND_U64, &hf_source_events_lost),
	F(PDS_RECORD_SOURCE, PDS_SOURCE_MESSAGE, PDS_KIND_STRING, &hf_source_message),

	F(PDS_RECORD_CONTROL, PDS_CONTROL_KIND, PDS_KIND_U8, &hf_control_kind),
	F(PDS_RECORD_CONTROL, PDS_CONTROL_SEQ, PDS_KIND_U64, &hf_control_seq),
	F(PDS_RECORD_CONTROL, PDS_CONTROL_SOURCE_ID, PDS_KIND_STRING, &hf_control_source_id),
	F(PDS_RECORD_CONTROL, PDS_CONTROL_MESSAGE, PDS_KIND_STRING, &hf_control_message),
};

#undef F
#undef FA
#undef FB

/* What one record said, collected for the Info column and expert info. */
typedef struct {
	const char *syscall;
	const char *path;
	const char *raw_path;
	const char *comm;
	gboolean has_result;
	gint64 result;
	guint32 path_status;

	guint8 event;
	guint8 protocol;
	guint8 tcp_state;
	guint32 anomalies;
	const char *anomaly_text;
	address src;
	address dst;
	guint16 srcport;
	guint16 dstport;
	const char *src_name;
	const char *dst_name;
	const char *method;
	const char *uri;
	guint16 status;
	const char *sni;
	const char *alpn;
	guint16 tls_version;
	gboolean has_t_total;
	guint64 t_total;
	gboolean has_t_server;
	guint64 t_server;
	gboolean has_t_tls;
	guint64 t_tls;
	guint64 bytes;

	const char *role;
	const char *ns;
	const char *pod;
	const char *interface;
	const char *message;
	guint64 kernel_dropped;
	guint64 if_dropped;
	guint64 spool_dropped;
	guint64 events_lost;

	guint8 control_kind;
	gboolean has_seq;
	guint64 seq;

	gboolean malformed;
} PdsInfo;

static const PdsFieldDesc *
find_field_desc(guint16 type, guint16 code)
{
	for (gsize i = 0; i < G_N_ELEMENTS(field_descs); i++) {
		if (field_descs[i].type == type && field_descs[i].code == code)
			return &field_descs[i];
	}
	return NULL;
}

/* The value length each kind needs; 0 means any length. */
static gboolean
kind_length_ok(PdsKind kind, guint16 len)
{
	switch (kind) {
	case PDS_KIND_STRING:
	case PDS_KIND_BYTES:
		return TRUE;
	case PDS_KIND_U8:
	case PDS_KIND_BOOL8:
		return len == 1;
	case PDS_KIND_U16:
		return len == 2;
	case PDS_KIND_U32:
	case PDS_KIND_BITS32:
		return len == 4;
	case PDS_KIND_U64:
	case PDS_KIND_I64:
	case PDS_KIND_DURATION:
	case PDS_KIND_ABSTIME:
		return len == 8;
	case PDS_KIND_ADDR:
		return len == 4 || len == 16;
	}
	return FALSE;
}

static const char *
kind_expectation(PdsKind kind)
{
	switch (kind) {
	case PDS_KIND_U8:
	case PDS_KIND_BOOL8:
		return "1 byte";
	case PDS_KIND_U16:
		return "2 bytes";
	case PDS_KIND_U32:
	case PDS_KIND_BITS32:
		return "4 bytes";
	case PDS_KIND_U64:
	case PDS_KIND_I64:
	case PDS_KIND_DURATION:
	case PDS_KIND_ABSTIME:
		return "8 bytes";
	case PDS_KIND_ADDR:
		return "4 or 16 bytes";
	case PDS_KIND_STRING:
	case PDS_KIND_BYTES:
		break;
	}
	return "any length";
}

static void
ns_to_nstime(guint64 ns, nstime_t *t)
{
	t->secs = (time_t)(ns / G_GUINT64_CONSTANT(1000000000));
	t->nsecs = (int)(ns % G_GUINT64_CONSTANT(1000000000));
}

/* Remember what the Info column and the expert checks need. */
static void
note_string(PdsInfo *info, guint16 type, guint16 code, const char *value)
{
	if (type == PDS_RECORD_FILE_ACCESS) {
		switch (code) {
		case PDS_FILE_SYSCALL:
			info->syscall = value;
			break;
		case PDS_FILE_PATH:
			info->path = value;
			break;
		case PDS_FILE_RAW_PATH:
			info->raw_path = value;
			break;
		case PDS_FILE_COMM:
			info->comm = value;
			break;
		default:
			break;
		}
	} else if (type == PDS_RECORD_FLOW) {
		switch (code) {
		case PDS_FLOW_ANOMALY_TEXT:
			info->anomaly_text = value;
			break;
		case PDS_FLOW_SRC_NAME:
			info->src_name = value;
			break;
		case PDS_FLOW_DST_NAME:
			info->dst_name = value;
			break;
		case PDS_FLOW_HTTP_METHOD:
			info->method = value;
			break;
		case PDS_FLOW_HTTP_URI:
			info->uri = value;
			break;
		case PDS_FLOW_TLS_SNI:
			info->sni = value;
			break;
		case PDS_FLOW_TLS_ALPN:
			info->alpn = value;
			break;
		default:
			break;
		}
	} else if (type == PDS_RECORD_SOURCE) {
		switch (code) {
		case PDS_SOURCE_ROLE:
			info->role = value;
			break;
		case PDS_SOURCE_NAMESPACE:
			info->ns = value;
			break;
		case PDS_SOURCE_POD:
			info->pod = value;
			break;
		case PDS_SOURCE_INTERFACE:
			info->interface = value;
			break;
		case PDS_SOURCE_MESSAGE:
			info->message = value;
			break;
		default:
			break;
		}
	}
}

static void
note_number(PdsInfo *info, guint16 type, guint16 code, guint64 value)
{
	if (type == PDS_RECORD_FILE_ACCESS) {
		if (code == PDS_FILE_RESULT) {
			info->has_result = TRUE;
			info->result = (gint64)value;
		} else if (code == PDS_FILE_PATH_STATUS) {
			info->path_status = (guint32)value;
		}
	} else if (type == PDS_RECORD_FLOW) {
		switch (code) {
		case PDS_FLOW_EVENT:
			info->event = (guint8)value;
			break;
		case PDS_FLOW_PROTOCOL:
			info->protocol = (guint8)value;
			break;
		case PDS_FLOW_TCP_STATE:
			info->tcp_state = (guint8)value;
			break;
		case PDS_FLOW_ANOMALIES:
			info->anomalies = (guint32)value;
			break;
		case PDS_FLOW_SRC_PORT:
			info->srcport = (guint16)value;
			break;
		case PDS_FLOW_DST_PORT:
			info->dstport = (guint16)value;
			break;
		case PDS_FLOW_HTTP_STATUS:
			info->status = (guint16)value;
			break;
		case PDS_FLOW_TLS_VERSION:
			info->tls_version = (guint16)value;
			break;
		case PDS_FLOW_T_TOTAL:
			info->has_t_total = TRUE;
			info->t_total = value;
			break;
		case PDS_FLOW_T_SERVER:
			info->has_t_server = TRUE;
			info->t_server = value;
			break;
		case PDS_FLOW_T_TLS_HANDSHAKE:
			info->has_t_tls = TRUE;
			info->t_tls = value;
			break;
		case PDS_FLOW_BYTES_C2S:
		case PDS_FLOW_BYTES_S2C:
			info->bytes += value;
			break;
		default:
			break;
		}
	} else if (type == PDS_RECORD_SOURCE) {
		switch (code) {
		case PDS_SOURCE_KERNEL_DROPPED:
			info->kernel_dropped = value;
			break;
		case PDS_SOURCE_IF_DROPPED:
			info->if_dropped = value;
			break;
		case PDS_SOURCE_SPOOL_DROPPED:
			info->spool_dropped = value;
			break;
		case PDS_SOURCE_EVENTS_LOST:
			info->events_lost = value;
			break;
		default:
			break;
		}
	} else if (type == PDS_RECORD_CONTROL) {
		if (code == PDS_CONTROL_KIND) {
			info->control_kind = (guint8)value;
		} else if (code == PDS_CONTROL_SEQ) {
			info->has_seq = TRUE;
			info->seq = value;
		}
	}
}

/* Adds one known field's value; returns its item. */
static proto_item *
add_known_field(proto_tree *tree,
		packet_info *pinfo,
		tvbuff_t *tvb,
		int offset,
		guint16 len,
		guint16 type,
		const PdsFieldDesc *desc,
		PdsInfo *info)
{
	proto_item *item = NULL;
	const guint8 *str = NULL;
	nstime_t t;
	guint64 u64;

	switch (desc->kind) {
	case PDS_KIND_STRING:
		item = proto_tree_add_item_ret_string(tree, *desc->hf, tvb, offset, len, ENC_UTF_8,
						      pinfo->pool, &str);
		note_string(info, type, desc->code, (const char *)str);
		break;
	case PDS_KIND_BYTES:
		item = proto_tree_add_item(tree, *desc->hf, tvb, offset, len, ENC_NA);
		break;
	case PDS_KIND_U8:
	case PDS_KIND_BOOL8:
		item = proto_tree_add_item(tree, *desc->hf, tvb, offset, 1, ENC_NA);
		note_number(info, type, desc->code, tvb_get_guint8(tvb, offset));
		break;
	case PDS_KIND_U16:
		item = proto_tree_add_item(tree, *desc->hf, tvb, offset, 2, ENC_LITTLE_ENDIAN);
		note_number(info, type, desc->code, tvb_get_letohs(tvb, offset));
		break;
	case PDS_KIND_U32:
		item = proto_tree_add_item(tree, *desc->hf, tvb, offset, 4, ENC_LITTLE_ENDIAN);
		note_number(info, type, desc->code, tvb_get_letohl(tvb, offset));
		break;
	case PDS_KIND_BITS32:
		item = proto_tree_add_bitmask(tree, tvb, offset, *desc->hf, *desc->ett, desc->bits,
					      ENC_LITTLE_ENDIAN);
		note_number(info, type, desc->code, tvb_get_letohl(tvb, offset));
		break;
	case PDS_KIND_U64:
		item = proto_tree_add_item(tree, *desc->hf, tvb, offset, 8, ENC_LITTLE_ENDIAN);
		note_number(info, type, desc->code, tvb_get_letoh64(tvb, offset));
		break;
	case PDS_KIND_I64:
		item = proto_tree_add_item(tree, *desc->hf, tvb, offset, 8, ENC_LITTLE_ENDIAN);
		note_number(info, type, desc->code, (guint64)tvb_get_letohi64(tvb, offset));
		break;
	case PDS_KIND_DURATION:
	case PDS_KIND_ABSTIME:
		u64 = tvb_get_letoh64(tvb, offset);
		ns_to_nstime(u64, &t);
		item = proto_tree_add_time(tree, *desc->hf, tvb, offset, 8, &t);
		note_number(info, type, desc->code, u64);
		break;
	case PDS_KIND_ADDR: {
		address *addr = desc->code == PDS_FLOW_SRC_ADDR ? &info->src : &info->dst;
		if (len == 4) {
			item = proto_tree_add_item(tree, *desc->hf, tvb, offset, 4, ENC_BIG_ENDIAN);
			alloc_address_tvb(pinfo->pool, addr, AT_IPv4, 4, tvb, offset);
		} else {
			item = proto_tree_add_item(tree, *desc->hf6, tvb, offset, 16, ENC_NA);
			alloc_address_tvb(pinfo->pool, addr, AT_IPv6, 16, tvb, offset);
		}
		break;
	}
	}
	return item;
}

static void
format_duration(wmem_strbuf_t *buf, guint64 ns)
{
	if (ns < G_GUINT64_CONSTANT(1000000))
		wmem_strbuf_append_printf(buf, "%.3f ms", (double)ns / 1e6);
	else if (ns < G_GUINT64_CONSTANT(1000000000))
		wmem_strbuf_append_printf(buf, "%.1f ms", (double)ns / 1e6);
	else
		wmem_strbuf_append_printf(buf, "%.2f s", (double)ns / 1e9);
}

static void
append_endpoint(
	wmem_strbuf_t *buf, packet_info *pinfo, const char *name, const address *addr, guint16 port)
{
	if (name != NULL)
		wmem_strbuf_append(buf, name);
	else if (addr->type == AT_IPv6 && port != 0)
		wmem_strbuf_append_printf(buf, "[%s]", address_to_display(pinfo->pool, addr));
	else if (addr->type != AT_NONE)
		wmem_strbuf_append(buf, address_to_display(pinfo->pool, addr));
	else
		wmem_strbuf_append(buf, "?");
	if (port != 0)
		wmem_strbuf_append_printf(buf, ":%u", port);
}

static const char *
info_file_access(packet_info *pinfo, const PdsInfo *info)
{
	wmem_strbuf_t *buf = wmem_strbuf_new(pinfo->pool, "");
	const char *path = info->path != NULL ? info->path : info->raw_path;

	wmem_strbuf_append(buf, info->syscall != NULL ? info->syscall : "access");
	if (path != NULL)
		wmem_strbuf_append_printf(buf, " %s", path);
	if (info->comm != NULL)
		wmem_strbuf_append_printf(buf, " (%s)", info->comm);
	if (info->has_result && info->result < 0 && info->result > -4096)
		wmem_strbuf_append_printf(buf, " = %s", g_strerror((int)-info->result));
	return wmem_strbuf_get_str(buf);
}

static const char *
info_flow(packet_info *pinfo, const PdsInfo *info)
{
	wmem_strbuf_t *buf = wmem_strbuf_new(pinfo->pool, "");

	if (info->event == PDS_FLOW_EVENT_HTTP_EXCHANGE || info->method != NULL) {
		wmem_strbuf_append_printf(buf, "%s %s", info->method != NULL ? info->method : "?",
					  info->uri != NULL ? info->uri : "?");
		if (info->status != 0)
			wmem_strbuf_append_printf(buf, " -> %u", info->status);
		if (info->has_t_total || info->has_t_server) {
			wmem_strbuf_append(buf, " (");
			format_duration(buf, info->has_t_total ? info->t_total : info->t_server);
			wmem_strbuf_append(buf, ")");
		}
	} else if (info->event == PDS_FLOW_EVENT_TLS_HANDSHAKE || info->sni != NULL) {
		wmem_strbuf_append_printf(buf, "TLS %s",
					  info->sni != NULL ? info->sni : "(no SNI)");
		if (info->tls_version != 0)
			wmem_strbuf_append_printf(buf, " %s",
						  val_to_str_const(info->tls_version,
								   tls_version_vals,
								   "unknown version"));
		if (info->alpn != NULL)
			wmem_strbuf_append_printf(buf, " %s", info->alpn);
		if (info->has_t_tls) {
			wmem_strbuf_append(buf, " (");
			format_duration(buf, info->t_tls);
			wmem_strbuf_append(buf, ")");
		}
	} else {
		wmem_strbuf_append(buf, "TCP ");
		append_endpoint(buf, pinfo, info->src_name, &info->src, info->srcport);
		wmem_strbuf_append(buf, " -> ");
		append_endpoint(buf, pinfo, info->dst_name, &info->dst, info->dstport);
		if (info->tcp_state != 0)
			wmem_strbuf_append_printf(
				buf, " %s",
				val_to_str_const(info->tcp_state, tcp_state_vals, "unknown"));
		if (info->has_t_total) {
			wmem_strbuf_append(buf, " after ");
			format_duration(buf, info->t_total);
		}
		wmem_strbuf_append_printf(buf, ", %" G_GUINT64_FORMAT " bytes", info->bytes);
	}
	if (info->anomalies != 0)
		wmem_strbuf_append(buf, " [anomalies]");
	return wmem_strbuf_get_str(buf);
}

static guint64
info_drops(const PdsInfo *info)
{
	return info->kernel_dropped + info->if_dropped + info->spool_dropped + info->events_lost;
}

static const char *
info_source(packet_info *pinfo, const PdsInfo *info)
{
	wmem_strbuf_t *buf = wmem_strbuf_new(pinfo->pool, "");

	wmem_strbuf_append(buf, info->role != NULL ? info->role : "source");
	if (info->ns != NULL || info->pod != NULL)
		wmem_strbuf_append_printf(buf, " %s/%s", info->ns != NULL ? info->ns : "?",
					  info->pod != NULL ? info->pod : "?");
	if (info->interface != NULL)
		wmem_strbuf_append_printf(buf, " %s", info->interface);
	if (info_drops(info) > 0)
		wmem_strbuf_append_printf(buf, ", %" G_GUINT64_FORMAT " dropped", info_drops(info));
	if (info->message != NULL)
		wmem_strbuf_append_printf(buf, ": %s", info->message);
	return wmem_strbuf_get_str(buf);
}

static const char *
info_control(packet_info *pinfo, const PdsInfo *info)
{
	wmem_strbuf_t *buf = wmem_strbuf_new(pinfo->pool, "Control ");

	wmem_strbuf_append(buf, val_to_str_const(info->control_kind, control_kind_vals, "?"));
	if (info->has_seq)
		wmem_strbuf_append_printf(buf, " seq %" G_GUINT64_FORMAT, info->seq);
	return wmem_strbuf_get_str(buf);
}

/* Checks that need the whole record: drops, anomalies, failed calls. */
static void
add_record_experts(packet_info *pinfo,
		   proto_tree *tree,
		   proto_item *ti,
		   tvbuff_t *tvb,
		   int end,
		   guint16 type,
		   const PdsInfo *info)
{
	if (type == PDS_RECORD_SOURCE) {
		guint64 drops = info_drops(info);
		proto_item *gi = proto_tree_add_uint64(tree, hf_source_drops, tvb, 0, end, drops);

		proto_item_set_generated(gi);
		if (drops > 0) {
			expert_add_info_format(
				pinfo, gi, &ei_drops,
				"Source %s/%s lost data: %" G_GUINT64_FORMAT
				" dropped by the kernel, %" G_GUINT64_FORMAT
				" by the interface, %" G_GUINT64_FORMAT
				" past the spool limit, %" G_GUINT64_FORMAT " events lost",
				info->ns != NULL ? info->ns : "?",
				info->pod != NULL ? info->pod : "?", info->kernel_dropped,
				info->if_dropped, info->spool_dropped, info->events_lost);
		}
	} else if (type == PDS_RECORD_FLOW && info->anomalies != 0) {
		expert_add_info_format(pinfo, ti, &ei_anomalies, "Flow anomalies: %s",
				       info->anomaly_text != NULL ? info->anomaly_text
								  : "see the anomalies field");
	} else if (type == PDS_RECORD_FILE_ACCESS) {
		if (info->has_result && info->result < 0) {
			expert_add_info_format(pinfo, ti, &ei_file_failed, "%s failed: %s",
					       info->syscall != NULL ? info->syscall : "access",
					       info->result > -4096 ? g_strerror((int)-info->result)
								    : "unknown error");
		}
		if (info->path_status & (PDS_FILE_PATH_TRUNCATED | PDS_FILE_PATH_UNRESOLVED)) {
			expert_add_info_format(pinfo, ti, &ei_path_incomplete, "Path is %s",
					       (info->path_status & PDS_FILE_PATH_TRUNCATED)
						       ? "truncated"
						       : "relative and could not be resolved");
		}
	}
}

/* Walks the TLV list from @offset to @end; returns the offset after it. */
static int
dissect_fields(tvbuff_t *tvb,
	       packet_info *pinfo,
	       proto_tree *tree,
	       proto_item *ti,
	       guint16 type,
	       int offset,
	       int end,
	       PdsInfo *info)
{
	for (;;) {
		guint16 code;
		guint16 len;
		int padded;
		proto_tree *ftree;
		proto_item *fitem;
		const PdsFieldDesc *desc;

		if (end - offset < 4) {
			if (end - offset == 0) {
				info->malformed = TRUE;
				expert_add_info_format(
					pinfo, ti, &ei_missing_end,
					"Record ends without the end-of-fields code 0");
			} else {
				proto_item *bi = proto_tree_add_item(tree, hf_field_value, tvb,
								     offset, end - offset, ENC_NA);
				info->malformed = TRUE;
				expert_add_info_format(
					pinfo, bi, &ei_truncated_field,
					"Truncated field header: %d bytes left, 4 needed",
					end - offset);
			}
			return end;
		}
		code = tvb_get_letohs(tvb, offset);
		len = tvb_get_letohs(tvb, offset + 2);
		if (code == 0) {
			proto_item *ei = proto_tree_add_item(tree, hf_end, tvb, offset, 4, ENC_NA);
			if (len != 0) {
				info->malformed = TRUE;
				expert_add_info_format(
					pinfo, ei, &ei_bad_field_length,
					"End-of-fields code with length %u, expected 0", len);
			}
			return offset + 4;
		}

		padded = (len + 3) & ~3;
		if (end - offset - 4 < (int)len) {
			ftree = proto_tree_add_subtree_format(tree, tvb, offset, end - offset,
							      ett_field, &fitem,
							      "Truncated field %u", code);
			proto_tree_add_item(ftree, hf_field_code, tvb, offset, 2,
					    ENC_LITTLE_ENDIAN);
			proto_tree_add_item(ftree, hf_field_length, tvb, offset + 2, 2,
					    ENC_LITTLE_ENDIAN);
			if (end - offset > 4)
				proto_tree_add_item(ftree, hf_field_value, tvb, offset + 4,
						    end - offset - 4, ENC_NA);
			info->malformed = TRUE;
			expert_add_info_format(
				pinfo, fitem, &ei_truncated_field,
				"Field %u claims %u bytes but only %d remain in the record", code,
				len, end - offset - 4);
			return end;
		}

		desc = find_field_desc(type, code);
		if (desc == NULL) {
			ftree = proto_tree_add_subtree_format(tree, tvb, offset, 4 + len, ett_field,
							      &fitem, "Unknown field %u (%u bytes)",
							      code, len);
			proto_tree_add_item(ftree, hf_field_code, tvb, offset, 2,
					    ENC_LITTLE_ENDIAN);
			proto_tree_add_item(ftree, hf_field_length, tvb, offset + 2, 2,
					    ENC_LITTLE_ENDIAN);
			if (len > 0)
				proto_tree_add_item(ftree, hf_field_value, tvb, offset + 4, len,
						    ENC_NA);
			expert_add_info_format(pinfo, fitem, &ei_unknown_field,
					       "Unknown field code %u skipped", code);
		} else if (!kind_length_ok(desc->kind, len)) {
			ftree = proto_tree_add_subtree_format(
				tree, tvb, offset, 4 + len, ett_field, &fitem, "%s: bad length %u",
				proto_registrar_get_name(*desc->hf), len);
			proto_tree_add_item(ftree, hf_field_code, tvb, offset, 2,
					    ENC_LITTLE_ENDIAN);
			proto_tree_add_item(ftree, hf_field_length, tvb, offset + 2, 2,
					    ENC_LITTLE_ENDIAN);
			if (len > 0)
				proto_tree_add_item(ftree, hf_field_value, tvb, offset + 4, len,
						    ENC_NA);
			info->malformed = TRUE;
			expert_add_info_format(pinfo, fitem, &ei_bad_field_length,
					       "Field %u (%s) has %u bytes, expected %s", code,
					       proto_registrar_get_abbrev(*desc->hf), len,
					       kind_expectation(desc->kind));
		} else {
			fitem = add_known_field(tree, pinfo, tvb, offset + 4, len, type, desc,
						info);
			ftree = proto_item_add_subtree(fitem, ett_field);
			proto_tree_add_item(ftree, hf_field_code, tvb, offset, 2,
					    ENC_LITTLE_ENDIAN);
			proto_tree_add_item(ftree, hf_field_length, tvb, offset + 2, 2,
					    ENC_LITTLE_ENDIAN);
		}

		/* The final field's padding may be cut off only by a broken writer. */
		if (end - offset - 4 < padded) {
			info->malformed = TRUE;
			expert_add_info_format(
				pinfo, fitem, &ei_truncated_field,
				"Field %u is not padded to 4 bytes before the record ends", code);
			return end;
		}
		if (padded > len)
			proto_tree_add_item(ftree, hf_field_padding, tvb, offset + 4 + len,
					    padded - len, ENC_NA);
		offset += 4 + padded;
	}
}

static int
dissect_podscope(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, void *data _U_)
{
	int available = (int)tvb_reported_length(tvb);
	proto_item *ti;
	proto_item *li;
	proto_tree *ptree;
	PdsInfo info;
	guint16 type;
	guint16 version;
	guint32 length;
	int end;
	int offset;
	nstime_t ts;
	const char *text = NULL;

	memset(&info, 0, sizeof(info));
	col_set_str(pinfo->cinfo, COL_PROTOCOL, "PodScope");
	col_clear(pinfo->cinfo, COL_INFO);

	ti = proto_tree_add_item(tree, proto_podscope, tvb, 0, -1, ENC_NA);
	ptree = proto_item_add_subtree(ti, ett_podscope);

	if (available < PDS_RECORD_HEADER_LEN) {
		if (available > 0)
			proto_tree_add_item(ptree, hf_field_value, tvb, 0, available, ENC_NA);
		expert_add_info_format(pinfo, ti, &ei_truncated_header,
				       "Record of %d bytes is shorter than its %d-byte header",
				       available, PDS_RECORD_HEADER_LEN);
		col_set_str(pinfo->cinfo, COL_INFO, "Malformed PodScope record (truncated header)");
		return available;
	}

	type = tvb_get_letohs(tvb, 0);
	version = tvb_get_letohs(tvb, 2);
	length = tvb_get_letohl(tvb, 4);
	proto_tree_add_item(ptree, hf_type, tvb, 0, 2, ENC_LITTLE_ENDIAN);
	li = proto_tree_add_item(ptree, hf_version, tvb, 2, 2, ENC_LITTLE_ENDIAN);
	if (version != PDS_RECORD_VERSION)
		expert_add_info_format(pinfo, li, &ei_unknown_version,
				       "Record version %u is unknown (this dissector knows %u); "
				       "fields are decoded as version %u",
				       version, PDS_RECORD_VERSION, PDS_RECORD_VERSION);
	li = proto_tree_add_item(ptree, hf_length, tvb, 4, 4, ENC_LITTLE_ENDIAN);
	proto_tree_add_item(ptree, hf_interface_id, tvb, 8, 4, ENC_LITTLE_ENDIAN);
	ns_to_nstime(((guint64)tvb_get_letohl(tvb, 12) << 32) | tvb_get_letohl(tvb, 16), &ts);
	proto_tree_add_time(ptree, hf_timestamp, tvb, 12, 8, &ts);

	proto_item_append_text(ti, ", %s", val_to_str(type, record_type_vals, "Unknown type %u"));

	if (length < PDS_RECORD_HEADER_LEN) {
		info.malformed = TRUE;
		expert_add_info_format(pinfo, li, &ei_bad_length,
				       "Record length %u is shorter than the %d-byte header",
				       length, PDS_RECORD_HEADER_LEN);
		col_set_str(pinfo->cinfo, COL_INFO, "Malformed PodScope record (bad length)");
		return available;
	}
	end = (int)length;
	if (length > (guint32)available) {
		info.malformed = TRUE;
		expert_add_info_format(pinfo, li, &ei_bad_length,
				       "Record length %u exceeds the %d bytes available", length,
				       available);
		end = available;
	}
	proto_item_set_len(ti, end);

	if (try_val_to_str(type, record_type_vals) == NULL) {
		expert_add_info_format(pinfo, ti, &ei_unknown_type,
				       "Unknown record type %u; fields shown undecoded", type);
	}

	offset = dissect_fields(tvb, pinfo, ptree, ti, type, PDS_RECORD_HEADER_LEN, end, &info);
	if (offset < end) {
		proto_item *after_item =
			proto_tree_add_item(ptree, hf_trailer, tvb, offset, end - offset, ENC_NA);
		info.malformed = TRUE;
		expert_add_info_format(pinfo, after_item, &ei_after_end,
				       "%d bytes after the end-of-fields code inside the record",
				       end - offset);
	}
	/* A custom block is padded to 4 bytes and may carry options after the record. */
	if (end < available && (guint32)end == length)
		proto_tree_add_item(tree, hf_trailer, tvb, end, available - end, ENC_NA);

	add_record_experts(pinfo, ptree, ti, tvb, end, type, &info);

	switch (type) {
	case PDS_RECORD_FILE_ACCESS:
		text = info_file_access(pinfo, &info);
		break;
	case PDS_RECORD_FLOW:
		text = info_flow(pinfo, &info);
		if (info.src.type != AT_NONE)
			copy_address_shallow(&pinfo->src, &info.src);
		if (info.dst.type != AT_NONE)
			copy_address_shallow(&pinfo->dst, &info.dst);
		if (info.srcport != 0 || info.dstport != 0) {
			pinfo->srcport = info.srcport;
			pinfo->destport = info.dstport;
		}
		break;
	case PDS_RECORD_SOURCE:
		text = info_source(pinfo, &info);
		break;
	case PDS_RECORD_CONTROL:
		text = info_control(pinfo, &info);
		break;
	default:
		text = wmem_strdup_printf(pinfo->pool, "Unknown PodScope record type %u", type);
		break;
	}
	if (info.malformed)
		text = wmem_strdup_printf(pinfo->pool, "%s [Malformed record]", text);
	col_add_str(pinfo->cinfo, COL_INFO, text);
	proto_item_append_text(ti, ": %s", text);
	return (guint32)end == length ? end : available;
}

/*
 * Wireshark 4.0 shows a custom block's data with the "data" dissector only;
 * we look at every frame afterwards and decode the custom blocks that carry
 * our PEN. The frame's tvb is the custom data (after the PEN).
 */
static int
dissect_podscope_post(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, void *data)
{
	if (custom_block_table_used)
		return 0;
	if (pinfo->rec == NULL || pinfo->rec->rec_type != REC_TYPE_CUSTOM_BLOCK)
		return 0;
	if (pinfo->rec->rec_header.custom_block_header.pen != PDS_PEN)
		return 0;
	return dissect_podscope(tvb, pinfo, tree, data);
}

void
proto_register_podscope(void)
{
	expert_module_t *expert;

	static hf_register_info hf[] = {
		{&hf_type,
		 {"Record type", "podscope.type", FT_UINT16, BASE_DEC, VALS(record_type_vals), 0x0,
		  NULL, HFILL}},
		{&hf_version,
		 {"Record version", "podscope.version", FT_UINT16, BASE_DEC, NULL, 0x0, NULL,
		  HFILL}},
		{&hf_length,
		 {"Record length", "podscope.length", FT_UINT32, BASE_DEC, NULL, 0x0,
		  "Bytes of the whole record, header included", HFILL}},
		{&hf_interface_id,
		 {"Interface ID", "podscope.interface_id", FT_UINT32, BASE_DEC, NULL, 0x0,
		  "Interface Description Block of the pod this record belongs to", HFILL}},
		{&hf_timestamp,
		 {"Timestamp", "podscope.timestamp", FT_ABSOLUTE_TIME, ABSOLUTE_TIME_UTC, NULL, 0x0,
		  NULL, HFILL}},

		{&hf_field_code,
		 {"Field code", "podscope.field.code", FT_UINT16, BASE_DEC, NULL, 0x0, NULL,
		  HFILL}},
		{&hf_field_length,
		 {"Field length", "podscope.field.length", FT_UINT16, BASE_DEC, NULL, 0x0, NULL,
		  HFILL}},
		{&hf_field_value,
		 {"Field value", "podscope.field.value", FT_BYTES, BASE_NONE, NULL, 0x0,
		  "Raw value of an unknown or malformed field", HFILL}},
		{&hf_field_padding,
		 {"Padding", "podscope.field.padding", FT_BYTES, BASE_NONE, NULL, 0x0, NULL,
		  HFILL}},
		{&hf_end,
		 {"End of fields", "podscope.end", FT_NONE, BASE_NONE, NULL, 0x0, NULL, HFILL}},
		{&hf_trailer,
		 {"Trailer", "podscope.trailer", FT_BYTES, BASE_NONE, NULL, 0x0,
		  "Bytes after the record", HFILL}},

		{&hf_file_syscall,
		 {"System call", "podscope.file.syscall", FT_STRING, BASE_NONE, NULL, 0x0, NULL,
		  HFILL}},
		{&hf_file_path,
		 {"Path", "podscope.file.path", FT_STRING, BASE_NONE, NULL, 0x0,
		  "Normalised absolute path", HFILL}},
		{&hf_file_raw_path,
		 {"Raw path", "podscope.file.raw_path", FT_STRING, BASE_NONE, NULL, 0x0,
		  "The path as the process requested it", HFILL}},
		{&hf_file_pid,
		 {"Thread ID", "podscope.file.pid", FT_UINT32, BASE_DEC, NULL, 0x0, NULL, HFILL}},
		{&hf_file_tgid,
		 {"Process ID", "podscope.file.tgid", FT_UINT32, BASE_DEC, NULL, 0x0, NULL, HFILL}},
		{&hf_file_comm,
		 {"Command", "podscope.file.comm", FT_STRING, BASE_NONE, NULL, 0x0, NULL, HFILL}},
		{&hf_file_cgroup_id,
		 {"Cgroup ID", "podscope.file.cgroup_id", FT_UINT64, BASE_DEC, NULL, 0x0, NULL,
		  HFILL}},
		{&hf_file_container,
		 {"Container", "podscope.file.container", FT_STRING, BASE_NONE, NULL, 0x0, NULL,
		  HFILL}},
		{&hf_file_container_id,
		 {"Container ID", "podscope.file.container_id", FT_STRING, BASE_NONE, NULL, 0x0,
		  NULL, HFILL}},
		{&hf_file_flags,
		 {"Flags", "podscope.file.flags", FT_UINT32, BASE_HEX, NULL, 0x0,
		  "Open flags or AT_* flags of the call", HFILL}},
		{&hf_file_mode,
		 {"Mode", "podscope.file.mode", FT_UINT32, BASE_OCT, NULL, 0x0, NULL, HFILL}},
		{&hf_file_result,
		 {"Result", "podscope.file.result", FT_INT64, BASE_DEC, NULL, 0x0,
		  "Return value: a descriptor, 0, or -errno", HFILL}},
		{&hf_file_resolved_path,
		 {"Resolved path", "podscope.file.resolved_path", FT_STRING, BASE_NONE, NULL, 0x0,
		  "Kernel path of the returned descriptor", HFILL}},
		{&hf_file_path_status,
		 {"Path status", "podscope.file.path_status", FT_UINT32, BASE_HEX, NULL, 0x0, NULL,
		  HFILL}},
		{&hf_file_path_status_truncated,
		 {"Truncated", "podscope.file.path_status.truncated", FT_BOOLEAN, 32, NULL,
		  PDS_FILE_PATH_TRUNCATED, NULL, HFILL}},
		{&hf_file_path_status_unresolved,
		 {"Unresolved", "podscope.file.path_status.unresolved", FT_BOOLEAN, 32, NULL,
		  PDS_FILE_PATH_UNRESOLVED, NULL, HFILL}},
		{&hf_file_path_status_from_entry,
		 {"Read at entry", "podscope.file.path_status.from_entry", FT_BOOLEAN, 32, NULL,
		  PDS_FILE_PATH_FROM_ENTRY, NULL, HFILL}},
		{&hf_file_path_status_interp,
		 {"Loaded by exec", "podscope.file.path_status.interp", FT_BOOLEAN, 32, NULL,
		  PDS_FILE_PATH_INTERP, NULL, HFILL}},
		{&hf_file_compat,
		 {"32-bit ABI", "podscope.file.compat", FT_BOOLEAN, BASE_NONE, NULL, 0x0, NULL,
		  HFILL}},
		{&hf_file_count,
		 {"Count", "podscope.file.count", FT_UINT64, BASE_DEC, NULL, 0x0,
		  "Accesses this record stands for", HFILL}},
		{&hf_file_pod,
		 {"Pod", "podscope.file.pod", FT_STRING, BASE_NONE, NULL, 0x0, NULL, HFILL}},
		{&hf_file_namespace,
		 {"Namespace", "podscope.file.namespace", FT_STRING, BASE_NONE, NULL, 0x0, NULL,
		  HFILL}},

		{&hf_flow_event,
		 {"Event", "podscope.flow.event", FT_UINT8, BASE_DEC, VALS(flow_event_vals), 0x0,
		  NULL, HFILL}},
		{&hf_flow_stream_id,
		 {"Stream ID", "podscope.flow.stream_id", FT_UINT64, BASE_DEC, NULL, 0x0,
		  "Ties the record to the flow's packets", HFILL}},
		{&hf_flow_src,
		 {"Source address", "podscope.flow.src", FT_IPv4, BASE_NONE, NULL, 0x0,
		  "Client address", HFILL}},
		{&hf_flow_dst,
		 {"Destination address", "podscope.flow.dst", FT_IPv4, BASE_NONE, NULL, 0x0,
		  "Server address", HFILL}},
		{&hf_flow_src_ipv6,
		 {"Source IPv6 address", "podscope.flow.src_ipv6", FT_IPv6, BASE_NONE, NULL, 0x0,
		  "Client address", HFILL}},
		{&hf_flow_dst_ipv6,
		 {"Destination IPv6 address", "podscope.flow.dst_ipv6", FT_IPv6, BASE_NONE, NULL,
		  0x0, "Server address", HFILL}},
		{&hf_flow_srcport,
		 {"Source port", "podscope.flow.srcport", FT_UINT16, BASE_DEC, NULL, 0x0, NULL,
		  HFILL}},
		{&hf_flow_dstport,
		 {"Destination port", "podscope.flow.dstport", FT_UINT16, BASE_DEC, NULL, 0x0, NULL,
		  HFILL}},
		{&hf_flow_ip_proto,
		 {"IP protocol", "podscope.flow.ip_proto", FT_UINT8, BASE_DEC | BASE_EXT_STRING,
		  &ipproto_val_ext, 0x0, NULL, HFILL}},
		{&hf_flow_protocol,
		 {"Protocol", "podscope.flow.protocol", FT_UINT8, BASE_DEC,
		  VALS(flow_protocol_vals), 0x0, NULL, HFILL}},
		{&hf_flow_tcp_state,
		 {"TCP state", "podscope.flow.tcp_state", FT_UINT8, BASE_DEC, VALS(tcp_state_vals),
		  0x0, NULL, HFILL}},
		{&hf_flow_anomalies,
		 {"Anomalies", "podscope.flow.anomalies", FT_UINT32, BASE_HEX, NULL, 0x0, NULL,
		  HFILL}},
		{&hf_flow_anomalies_gap,
		 {"Gap", "podscope.flow.anomalies.gap", FT_BOOLEAN, 32, NULL, PDS_FLOW_ANOMALY_GAP,
		  "Bytes of the stream were never seen", HFILL}},
		{&hf_flow_anomalies_http_malformed,
		 {"Malformed HTTP", "podscope.flow.anomalies.http_malformed", FT_BOOLEAN, 32, NULL,
		  PDS_FLOW_ANOMALY_HTTP_MALFORMED, NULL, HFILL}},
		{&hf_flow_anomalies_http_headers_too_large,
		 {"HTTP headers too large", "podscope.flow.anomalies.http_headers_too_large",
		  FT_BOOLEAN, 32, NULL, PDS_FLOW_ANOMALY_HTTP_HEADERS_TOO_LARGE, NULL, HFILL}},
		{&hf_flow_anomalies_http_bad_chunk,
		 {"Bad HTTP chunk", "podscope.flow.anomalies.http_bad_chunk", FT_BOOLEAN, 32, NULL,
		  PDS_FLOW_ANOMALY_HTTP_BAD_CHUNK, NULL, HFILL}},
		{&hf_flow_anomalies_tls_malformed,
		 {"Malformed TLS", "podscope.flow.anomalies.tls_malformed", FT_BOOLEAN, 32, NULL,
		  PDS_FLOW_ANOMALY_TLS_MALFORMED, NULL, HFILL}},
		{&hf_flow_anomalies_not_http,
		 {"Not HTTP", "podscope.flow.anomalies.not_http", FT_BOOLEAN, 32, NULL,
		  PDS_FLOW_ANOMALY_NOT_HTTP, NULL, HFILL}},
		{&hf_flow_anomalies_memory_limit,
		 {"Memory limit", "podscope.flow.anomalies.memory_limit", FT_BOOLEAN, 32, NULL,
		  PDS_FLOW_ANOMALY_MEMORY_LIMIT, NULL, HFILL}},
		{&hf_flow_anomalies_retransmission,
		 {"Retransmission", "podscope.flow.anomalies.retransmission", FT_BOOLEAN, 32, NULL,
		  PDS_FLOW_ANOMALY_RETRANSMISSION, NULL, HFILL}},
		{&hf_flow_anomalies_overlap_mismatch,
		 {"Overlap mismatch", "podscope.flow.anomalies.overlap_mismatch", FT_BOOLEAN, 32,
		  NULL, PDS_FLOW_ANOMALY_OVERLAP_MISMATCH,
		  "Retransmitted bytes differ from the first copy", HFILL}},
		{&hf_flow_anomalies_upgraded,
		 {"Upgraded", "podscope.flow.anomalies.upgraded", FT_BOOLEAN, 32, NULL,
		  PDS_FLOW_ANOMALY_UPGRADED, "The connection switched protocols", HFILL}},
		{&hf_flow_anomaly_text,
		 {"Anomaly", "podscope.flow.anomaly_text", FT_STRING, BASE_NONE, NULL, 0x0, NULL,
		  HFILL}},
		{&hf_flow_src_name,
		 {"Source name", "podscope.flow.src_name", FT_STRING, BASE_NONE, NULL, 0x0,
		  "Pod or service name of the client", HFILL}},
		{&hf_flow_dst_name,
		 {"Destination name", "podscope.flow.dst_name", FT_STRING, BASE_NONE, NULL, 0x0,
		  "Pod or service name of the server", HFILL}},
		{&hf_flow_first_packet,
		 {"First packet", "podscope.flow.first_packet", FT_ABSOLUTE_TIME, ABSOLUTE_TIME_UTC,
		  NULL, 0x0, NULL, HFILL}},
		{&hf_flow_time_tcp_handshake,
		 {"TCP handshake time", "podscope.flow.time.tcp_handshake", FT_RELATIVE_TIME,
		  BASE_NONE, NULL, 0x0, "SYN to SYN-ACK", HFILL}},
		{&hf_flow_time_tls_handshake,
		 {"TLS handshake time", "podscope.flow.time.tls_handshake", FT_RELATIVE_TIME,
		  BASE_NONE, NULL, 0x0, "ClientHello to the end of the handshake", HFILL}},
		{&hf_flow_time_server,
		 {"Server time", "podscope.flow.time.server", FT_RELATIVE_TIME, BASE_NONE, NULL,
		  0x0, "Last byte of the request to first byte of the response", HFILL}},
		{&hf_flow_time_transfer,
		 {"Transfer time", "podscope.flow.time.transfer", FT_RELATIVE_TIME, BASE_NONE, NULL,
		  0x0, "First to last byte of the response", HFILL}},
		{&hf_flow_time_total,
		 {"Total time", "podscope.flow.time.total", FT_RELATIVE_TIME, BASE_NONE, NULL, 0x0,
		  "First byte of the request to last byte of the response, or the connection's "
		  "lifetime",
		  HFILL}},
		{&hf_flow_bytes_c2s,
		 {"Bytes client to server", "podscope.flow.bytes_c2s", FT_UINT64, BASE_DEC, NULL,
		  0x0, NULL, HFILL}},
		{&hf_flow_bytes_s2c,
		 {"Bytes server to client", "podscope.flow.bytes_s2c", FT_UINT64, BASE_DEC, NULL,
		  0x0, NULL, HFILL}},
		{&hf_flow_packets_c2s,
		 {"Packets client to server", "podscope.flow.packets_c2s", FT_UINT64, BASE_DEC,
		  NULL, 0x0, NULL, HFILL}},
		{&hf_flow_packets_s2c,
		 {"Packets server to client", "podscope.flow.packets_s2c", FT_UINT64, BASE_DEC,
		  NULL, 0x0, NULL, HFILL}},
		{&hf_flow_retransmissions,
		 {"Retransmissions", "podscope.flow.retransmissions", FT_UINT64, BASE_DEC, NULL,
		  0x0, NULL, HFILL}},
		{&hf_flow_gap_bytes,
		 {"Gap bytes", "podscope.flow.gap_bytes", FT_UINT64, BASE_DEC, NULL, 0x0,
		  "Bytes never seen", HFILL}},
		{&hf_flow_tls_sni,
		 {"Server name (SNI)", "podscope.flow.tls.sni", FT_STRING, BASE_NONE, NULL, 0x0,
		  NULL, HFILL}},
		{&hf_flow_tls_alpn_offered,
		 {"ALPN offered", "podscope.flow.tls.alpn_offered", FT_STRING, BASE_NONE, NULL, 0x0,
		  NULL, HFILL}},
		{&hf_flow_tls_alpn,
		 {"ALPN", "podscope.flow.tls.alpn", FT_STRING, BASE_NONE, NULL, 0x0,
		  "Protocol the server chose", HFILL}},
		{&hf_flow_tls_version,
		 {"TLS version", "podscope.flow.tls.version", FT_UINT16, BASE_HEX,
		  VALS(tls_version_vals), 0x0, "Negotiated version", HFILL}},
		{&hf_flow_tls_cipher,
		 {"Cipher suite", "podscope.flow.tls.cipher", FT_UINT16, BASE_HEX,
		  VALS(tls_cipher_vals), 0x0, NULL, HFILL}},
		{&hf_flow_tls_hrr,
		 {"HelloRetryRequest", "podscope.flow.tls.hrr", FT_BOOLEAN, BASE_NONE, NULL, 0x0,
		  NULL, HFILL}},
		{&hf_flow_tls_encrypted_bytes,
		 {"Application data bytes", "podscope.flow.tls.encrypted_bytes", FT_UINT64,
		  BASE_DEC, NULL, 0x0, NULL, HFILL}},
		{&hf_flow_tls_client_version,
		 {"Client supported version", "podscope.flow.tls.client_version", FT_UINT16,
		  BASE_HEX, VALS(tls_version_vals), 0x0, NULL, HFILL}},
		{&hf_flow_http_method,
		 {"Request method", "podscope.flow.http.method", FT_STRING, BASE_NONE, NULL, 0x0,
		  NULL, HFILL}},
		{&hf_flow_http_uri,
		 {"Request URI", "podscope.flow.http.uri", FT_STRING, BASE_NONE, NULL, 0x0, NULL,
		  HFILL}},
		{&hf_flow_http_version,
		 {"HTTP version", "podscope.flow.http.version", FT_STRING, BASE_NONE, NULL, 0x0,
		  NULL, HFILL}},
		{&hf_flow_http_status,
		 {"Status code", "podscope.flow.http.status", FT_UINT16, BASE_DEC,
		  VALS(vals_http_status_code), 0x0, NULL, HFILL}},
		{&hf_flow_http_reason,
		 {"Reason phrase", "podscope.flow.http.reason", FT_STRING, BASE_NONE, NULL, 0x0,
		  NULL, HFILL}},
		{&hf_flow_http_request_header,
		 {"Request header", "podscope.flow.http.request_header", FT_STRING, BASE_NONE, NULL,
		  0x0, NULL, HFILL}},
		{&hf_flow_http_response_header,
		 {"Response header", "podscope.flow.http.response_header", FT_STRING, BASE_NONE,
		  NULL, 0x0, NULL, HFILL}},
		{&hf_flow_http_request_body,
		 {"Request body", "podscope.flow.http.request_body", FT_BYTES,
		  BASE_SHOW_ASCII_PRINTABLE, NULL, 0x0,
		  "The first bytes of the decoded request body", HFILL}},
		{&hf_flow_http_request_body_len,
		 {"Request body length", "podscope.flow.http.request_body_len", FT_UINT64, BASE_DEC,
		  NULL, 0x0, NULL, HFILL}},
		{&hf_flow_http_response_body,
		 {"Response body", "podscope.flow.http.response_body", FT_BYTES,
		  BASE_SHOW_ASCII_PRINTABLE, NULL, 0x0,
		  "The first bytes of the decoded response body", HFILL}},
		{&hf_flow_http_response_body_len,
		 {"Response body length", "podscope.flow.http.response_body_len", FT_UINT64,
		  BASE_DEC, NULL, 0x0, NULL, HFILL}},
		{&hf_flow_http_host,
		 {"Host", "podscope.flow.http.host", FT_STRING, BASE_NONE, NULL, 0x0, NULL, HFILL}},
		{&hf_flow_http_request_index,
		 {"Request index", "podscope.flow.http.request_index", FT_UINT32, BASE_DEC, NULL,
		  0x0, "0-based position of the request on its connection", HFILL}},

		{&hf_source_role,
		 {"Role", "podscope.source.role", FT_STRING, BASE_NONE, NULL, 0x0, NULL, HFILL}},
		{&hf_source_version,
		 {"Software version", "podscope.source.version", FT_STRING, BASE_NONE, NULL, 0x0,
		  NULL, HFILL}},
		{&hf_source_id,
		 {"Source ID", "podscope.source.id", FT_STRING, BASE_NONE, NULL, 0x0, NULL, HFILL}},
		{&hf_source_namespace,
		 {"Namespace", "podscope.source.namespace", FT_STRING, BASE_NONE, NULL, 0x0, NULL,
		  HFILL}},
		{&hf_source_pod,
		 {"Pod", "podscope.source.pod", FT_STRING, BASE_NONE, NULL, 0x0, NULL, HFILL}},
		{&hf_source_node,
		 {"Node", "podscope.source.node", FT_STRING, BASE_NONE, NULL, 0x0, NULL, HFILL}},
		{&hf_source_container,
		 {"Container", "podscope.source.container", FT_STRING, BASE_NONE, NULL, 0x0, NULL,
		  HFILL}},
		{&hf_source_interface,
		 {"Interface", "podscope.source.interface", FT_STRING, BASE_NONE, NULL, 0x0, NULL,
		  HFILL}},
		{&hf_source_kernel_received,
		 {"Received by the kernel", "podscope.source.kernel_received", FT_UINT64, BASE_DEC,
		  NULL, 0x0, NULL, HFILL}},
		{&hf_source_kernel_dropped,
		 {"Dropped by the kernel", "podscope.source.kernel_dropped", FT_UINT64, BASE_DEC,
		  NULL, 0x0, NULL, HFILL}},
		{&hf_source_if_dropped,
		 {"Dropped by the interface", "podscope.source.if_dropped", FT_UINT64, BASE_DEC,
		  NULL, 0x0, NULL, HFILL}},
		{&hf_source_spool_dropped,
		 {"Dropped past the spool limit", "podscope.source.spool_dropped", FT_UINT64,
		  BASE_DEC, NULL, 0x0, NULL, HFILL}},
		{&hf_source_spool_bytes,
		 {"Bytes in the spool", "podscope.source.spool_bytes", FT_UINT64, BASE_DEC, NULL,
		  0x0, NULL, HFILL}},
		{&hf_source_events_lost,
		 {"Events lost", "podscope.source.events_lost", FT_UINT64, BASE_DEC, NULL, 0x0,
		  "eBPF ring buffer losses", HFILL}},
		{&hf_source_message,
		 {"Message", "podscope.source.message", FT_STRING, BASE_NONE, NULL, 0x0, NULL,
		  HFILL}},
		{&hf_source_drops,
		 {"Total drops", "podscope.source.drops", FT_UINT64, BASE_DEC, NULL, 0x0,
		  "Kernel, interface and spool drops plus lost events", HFILL}},

		{&hf_control_kind,
		 {"Kind", "podscope.control.kind", FT_UINT8, BASE_DEC, VALS(control_kind_vals), 0x0,
		  NULL, HFILL}},
		{&hf_control_seq,
		 {"Sequence", "podscope.control.seq", FT_UINT64, BASE_DEC, NULL, 0x0, NULL, HFILL}},
		{&hf_control_source_id,
		 {"Source ID", "podscope.control.source_id", FT_STRING, BASE_NONE, NULL, 0x0, NULL,
		  HFILL}},
		{&hf_control_message,
		 {"Message", "podscope.control.message", FT_STRING, BASE_NONE, NULL, 0x0, NULL,
		  HFILL}},
	};

	static gint *ett[] = {
		&ett_podscope,
		&ett_field,
		&ett_path_status,
		&ett_anomalies,
	};

	static ei_register_info ei[] = {
		{&ei_truncated_header,
		 {"podscope.malformed.truncated_header", PI_MALFORMED, PI_ERROR,
		  "Record shorter than its header", EXPFILL}},
		{&ei_bad_length,
		 {"podscope.malformed.bad_length", PI_MALFORMED, PI_ERROR,
		  "Record length does not fit", EXPFILL}},
		{&ei_truncated_field,
		 {"podscope.malformed.truncated_field", PI_MALFORMED, PI_ERROR,
		  "Field runs past the end of the record", EXPFILL}},
		{&ei_bad_field_length,
		 {"podscope.malformed.bad_field_length", PI_MALFORMED, PI_ERROR,
		  "Field length wrong for its type", EXPFILL}},
		{&ei_missing_end,
		 {"podscope.malformed.missing_end", PI_MALFORMED, PI_WARN, "No end-of-fields code",
		  EXPFILL}},
		{&ei_after_end,
		 {"podscope.malformed.after_end", PI_MALFORMED, PI_WARN,
		  "Bytes after the end-of-fields code", EXPFILL}},
		{&ei_unknown_type,
		 {"podscope.unknown_type", PI_UNDECODED, PI_WARN, "Unknown record type", EXPFILL}},
		{&ei_unknown_version,
		 {"podscope.unknown_version", PI_UNDECODED, PI_WARN, "Unknown record version",
		  EXPFILL}},
		{&ei_unknown_field,
		 {"podscope.unknown_field", PI_UNDECODED, PI_NOTE, "Unknown field skipped",
		  EXPFILL}},
		{&ei_drops,
		 {"podscope.source.drops.expert", PI_SEQUENCE, PI_WARN, "Source dropped data",
		  EXPFILL}},
		{&ei_anomalies,
		 {"podscope.flow.anomalies.expert", PI_SEQUENCE, PI_WARN, "Flow anomalies",
		  EXPFILL}},
		{&ei_file_failed,
		 {"podscope.file.failed", PI_RESPONSE_CODE, PI_NOTE, "File access failed",
		  EXPFILL}},
		{&ei_path_incomplete,
		 {"podscope.file.path_incomplete", PI_PROTOCOL, PI_WARN, "Path incomplete",
		  EXPFILL}},
	};

	proto_podscope = proto_register_protocol("PodScope", "PodScope", PDS_RECORD_PROTO_NAME);
	proto_register_field_array(proto_podscope, hf, array_length(hf));
	proto_register_subtree_array(ett, array_length(ett));
	expert = expert_register_protocol(proto_podscope);
	expert_register_field_array(expert, ei, array_length(ei));

	podscope_handle =
		register_dissector(PDS_RECORD_PROTO_NAME, dissect_podscope, proto_podscope);
}

void
proto_reg_handoff_podscope(void)
{
	/*
	 * Wireshark 4.4 added a table of custom block dissectors keyed by PEN.
	 * Looking it up at run time keeps one source for both: where it exists
	 * the frame dissector calls us, else the postdissector does the job.
	 */
	if (find_dissector_table("pcapng_custom_block") != NULL) {
		dissector_add_uint("pcapng_custom_block", PDS_PEN, podscope_handle);
		custom_block_table_used = TRUE;
	}
	podscope_post_handle = create_dissector_handle(dissect_podscope_post, proto_podscope);
	register_postdissector(podscope_post_handle);
}
