/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* TLS handshake reader: hellos, HRR, completion timing and bad records, fed in all splits. */
#include "config.h"

#define G_LOG_DOMAIN "PdsTest"

#include <string.h>

#include "pds-record.h"
#include "pds-tls-parser.h"

typedef struct {
	PdsMemBudget budget;
	PdsFlowMem mem;
	PdsTlsParser *tls;
	guint n_done;
	guint64 ts_done;
} Fixture;

static void
on_done(const PdsTlsHandshakeInfo *info, gpointer user_data)
{
	Fixture *fx = user_data;
	fx->n_done++;
	fx->ts_done = info->ts_done;
}

static void
fixture_init(Fixture *fx)
{
	memset(fx, 0, sizeof(*fx));
	fx->budget.limit = 1 << 24;
	fx->mem.total = &fx->budget;
	fx->mem.limit = 1 << 20;
	fx->tls = pds_tls_parser_new(&fx->mem, on_done, fx);
}

static void
fixture_clear(Fixture *fx)
{
	pds_tls_parser_free(fx->tls);
	g_assert_cmpuint(fx->mem.used, ==, 0);
}

static void
put16(GByteArray *b, guint v)
{
	guint8 x[2] = {v >> 8, v & 0xff};
	g_byte_array_append(b, x, 2);
}

static void
put8(GByteArray *b, guint v)
{
	guint8 x = v;
	g_byte_array_append(b, &x, 1);
}

static void
put_bytes(GByteArray *b, const void *p, gsize n)
{
	g_byte_array_append(b, p, n);
}

/* Wraps @body as a handshake message of @type. */
static GByteArray *
handshake(guint type, GByteArray *body)
{
	GByteArray *m = g_byte_array_new();
	put8(m, type);
	put8(m, body->len >> 16);
	put16(m, body->len & 0xffff);
	put_bytes(m, body->data, body->len);
	g_byte_array_unref(body);
	return m;
}

static GByteArray *
client_hello(const char *sni, gboolean tls13)
{
	GByteArray *b = g_byte_array_new();
	g_autoptr(GByteArray) ext = g_byte_array_new();
	guint8 random[32] = {1, 2, 3};

	put16(b, 0x0303);
	put_bytes(b, random, 32);
	put8(b, 0);
	put16(b, 4);
	put16(b, 0x1301);
	put16(b, 0xc02f);
	put8(b, 1);
	put8(b, 0);
	/* SNI */
	put16(ext, 0);
	put16(ext, strlen(sni) + 5);
	put16(ext, strlen(sni) + 3);
	put8(ext, 0);
	put16(ext, strlen(sni));
	put_bytes(ext, sni, strlen(sni));
	/* ALPN h2, http/1.1 */
	put16(ext, 16);
	put16(ext, 14);
	put16(ext, 12);
	put8(ext, 2);
	put_bytes(ext, "h2", 2);
	put8(ext, 8);
	put_bytes(ext, "http/1.1", 8);
	if (tls13) {
		put16(ext, 43);
		put16(ext, 5);
		put8(ext, 4);
		put16(ext, 0x0304);
		put16(ext, 0x0303);
	}
	put16(b, ext->len);
	put_bytes(b, ext->data, ext->len);
	return handshake(1, b);
}

static const guint8 hrr_random[32] = {
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C,
	0x02, 0x1E, 0x65, 0xB8, 0x91, 0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB,
	0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
};

static GByteArray *
server_hello(guint cipher, gboolean tls13, const char *alpn, gboolean hrr)
{
	GByteArray *b = g_byte_array_new();
	g_autoptr(GByteArray) ext = g_byte_array_new();
	guint8 random[32] = {9, 9, 9};

	put16(b, 0x0303);
	put_bytes(b, hrr ? hrr_random : random, 32);
	put8(b, 0);
	put16(b, cipher);
	put8(b, 0);
	if (tls13) {
		put16(ext, 43);
		put16(ext, 2);
		put16(ext, 0x0304);
	}
	if (alpn != NULL) {
		put16(ext, 16);
		put16(ext, strlen(alpn) + 3);
		put16(ext, strlen(alpn) + 1);
		put8(ext, strlen(alpn));
		put_bytes(ext, alpn, strlen(alpn));
	}
	put16(b, ext->len);
	put_bytes(b, ext->data, ext->len);
	return handshake(2, b);
}

/* Record(s) of @type carrying @payload, cut into fragments of at most @frag bytes. */
static void
add_records(GByteArray *out, guint type, const guint8 *payload, gsize len, gsize frag)
{
	gsize off = 0;
	do {
		gsize n = MIN(len - off, frag);
		put8(out, type);
		put16(out, 0x0303);
		put16(out, n);
		put_bytes(out, payload + off, n);
		off += n;
	} while (off < len);
}

static void
add_opaque(GByteArray *out, guint type, gsize len)
{
	g_autofree guint8 *junk = g_malloc(len);
	for (gsize i = 0; i < len; i++)
		junk[i] = (guint8)(i * 7 + 3);
	add_records(out, type, junk, len, 16384);
}

static void
feed(Fixture *fx, guint dir, GByteArray *bytes, gsize piece, guint64 ts)
{
	if (piece == 0)
		piece = bytes->len;
	for (gsize off = 0; off < bytes->len; off += piece)
		pds_tls_parser_data(fx->tls, dir, bytes->data + off, MIN(piece, bytes->len - off),
				    ts);
}

static const gsize splits[] = {0, 1, 3, 5, 100};

static void
test_tls13(void)
{
	for (guint s = 0; s < G_N_ELEMENTS(splits); s++) {
		Fixture fx;
		const PdsTlsHandshakeInfo *info;
		g_autoptr(GByteArray) c1 = g_byte_array_new();
		g_autoptr(GByteArray) s1 = g_byte_array_new();
		g_autoptr(GByteArray) c2 = g_byte_array_new();
		g_autoptr(GByteArray) data = g_byte_array_new();
		g_autoptr(GByteArray) ch = client_hello("www.example.test", TRUE);
		g_autoptr(GByteArray) sh = server_hello(0x1302, TRUE, NULL, FALSE);

		fixture_init(&fx);
		add_records(c1, 22, ch->data, ch->len, 16384);
		add_records(s1, 22, sh->data, sh->len, 16384);
		add_opaque(s1, 20, 1);
		add_opaque(s1, 23, 2000); /* EncryptedExtensions..Finished */
		add_opaque(c2, 20, 1);
		add_opaque(c2, 23, 53); /* client Finished */
		add_opaque(data, 23, 100);

		feed(&fx, 0, c1, splits[s], 1000);
		feed(&fx, 1, s1, splits[s], 2000);
		g_assert_cmpuint(fx.n_done, ==, 0);
		feed(&fx, 0, c2, splits[s], 3000);
		g_assert_cmpuint(fx.n_done, ==, 1);
		g_assert_cmpuint(fx.ts_done, ==, 3000);
		feed(&fx, 0, data, splits[s], 4000);
		feed(&fx, 1, data, splits[s], 5000);
		feed(&fx, 1, data, splits[s], 5000);

		info = pds_tls_parser_get_info(fx.tls);
		g_assert_cmpstr(info->sni, ==, "www.example.test");
		g_assert_cmpuint(info->n_alpn_offered, ==, 2);
		g_assert_cmpstr(info->alpn_offered[0], ==, "h2");
		g_assert_cmpstr(info->alpn_offered[1], ==, "http/1.1");
		g_assert_cmpuint(info->n_client_versions, ==, 2);
		g_assert_cmpuint(info->client_versions[0], ==, 0x0304);
		g_assert_cmphex(info->version, ==, 0x0304);
		g_assert_cmphex(info->cipher, ==, 0x1302);
		g_assert_false(info->hrr);
		g_assert_cmpuint(info->ts_client_hello, ==, 1000);
		g_assert_cmpuint(info->encrypted_bytes[0], ==, 100);
		g_assert_cmpuint(info->encrypted_bytes[1], ==, 200);
		g_assert_cmpuint(pds_tls_parser_get_anomalies(fx.tls, NULL), ==, 0);
		fixture_clear(&fx);
	}
}

static void
test_tls12(void)
{
	for (guint s = 0; s < G_N_ELEMENTS(splits); s++) {
		Fixture fx;
		const PdsTlsHandshakeInfo *info;
		g_autoptr(GByteArray) c1 = g_byte_array_new();
		g_autoptr(GByteArray) s1 = g_byte_array_new();
		g_autoptr(GByteArray) flight = g_byte_array_new();
		g_autoptr(GByteArray) c2 = g_byte_array_new();
		g_autoptr(GByteArray) s2 = g_byte_array_new();
		g_autoptr(GByteArray) ch = client_hello("api.test", FALSE);
		g_autoptr(GByteArray) sh = server_hello(0xc02f, FALSE, "http/1.1", FALSE);
		guint8 cert_and_done[] = {11, 0, 0, 3, 0, 0, 0, 14, 0, 0, 0};

		fixture_init(&fx);
		/* ClientHello cut across three records */
		add_records(c1, 22, ch->data, ch->len, 20);
		/* ServerHello, Certificate and ServerHelloDone in one record */
		put_bytes(flight, sh->data, sh->len);
		put_bytes(flight, cert_and_done, sizeof(cert_and_done));
		add_records(s1, 22, flight->data, flight->len, 16384);
		add_opaque(c2, 22, 70); /* ClientKeyExchange (plaintext, opaque here) */
		add_opaque(c2, 20, 1);
		add_opaque(c2, 22, 40); /* encrypted Finished */
		add_opaque(s2, 20, 1);
		add_opaque(s2, 22, 40);

		feed(&fx, 0, c1, splits[s], 1);
		feed(&fx, 1, s1, splits[s], 2);
		feed(&fx, 0, c2, splits[s], 3);
		g_assert_cmpuint(fx.n_done, ==, 0);
		feed(&fx, 1, s2, splits[s], 4);
		g_assert_cmpuint(fx.n_done, ==, 1);
		g_assert_cmpuint(fx.ts_done, ==, 4);

		info = pds_tls_parser_get_info(fx.tls);
		g_assert_cmpstr(info->sni, ==, "api.test");
		g_assert_cmpstr(info->alpn, ==, "http/1.1");
		g_assert_cmphex(info->version, ==, 0x0303);
		g_assert_cmphex(info->cipher, ==, 0xc02f);
		g_assert_cmpuint(info->n_client_versions, ==, 0);
		fixture_clear(&fx);
	}
}

static void
test_hrr(void)
{
	Fixture fx;
	const PdsTlsHandshakeInfo *info;
	g_autoptr(GByteArray) c1 = g_byte_array_new();
	g_autoptr(GByteArray) s1 = g_byte_array_new();
	g_autoptr(GByteArray) c2 = g_byte_array_new();
	g_autoptr(GByteArray) s2 = g_byte_array_new();
	g_autoptr(GByteArray) c3 = g_byte_array_new();
	g_autoptr(GByteArray) ch = client_hello("hrr.test", TRUE);
	g_autoptr(GByteArray) hrr = server_hello(0x1301, TRUE, NULL, TRUE);
	g_autoptr(GByteArray) sh = server_hello(0x1301, TRUE, NULL, FALSE);

	fixture_init(&fx);
	add_records(c1, 22, ch->data, ch->len, 16384);
	add_records(s1, 22, hrr->data, hrr->len, 16384);
	add_opaque(s1, 20, 1);
	/* OpenSSL sends its compatibility CCS before the second ClientHello. */
	add_opaque(c2, 20, 1);
	add_records(c2, 22, ch->data, ch->len, 16384);
	add_records(s2, 22, sh->data, sh->len, 16384);
	add_opaque(s2, 23, 900);
	add_opaque(c3, 23, 53);

	feed(&fx, 0, c1, 0, 10);
	feed(&fx, 1, s1, 0, 20);
	feed(&fx, 0, c2, 0, 30);
	feed(&fx, 1, s2, 0, 40);
	g_assert_cmpuint(fx.n_done, ==, 0);
	feed(&fx, 0, c3, 0, 50);
	g_assert_cmpuint(fx.n_done, ==, 1);
	info = pds_tls_parser_get_info(fx.tls);
	g_assert_true(info->hrr);
	g_assert_true(info->server_hello);
	g_assert_cmpuint(info->ts_client_hello, ==, 10);
	g_assert_cmpuint(info->ts_done, ==, 50);
	g_assert_cmpuint(pds_tls_parser_get_anomalies(fx.tls, NULL), ==, 0);
	fixture_clear(&fx);
}

static void
test_garbage(void)
{
	static const guint8 bad_type[] = {0x99, 3, 3, 0, 5, 1, 2, 3, 4, 5};
	static const guint8 bad_version[] = {22, 7, 1, 0, 5, 1, 2, 3, 4, 5};
	static const guint8 too_long[] = {23, 3, 3, 0xff, 0xff, 1, 2, 3};
	static const guint8 huge_hello[] = {22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff};
	static const guint8 *const cases[] = {bad_type, bad_version, too_long, huge_hello};
	static const gsize lens[] = {sizeof(bad_type), sizeof(bad_version), sizeof(too_long),
				     sizeof(huge_hello)};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		Fixture fx;
		fixture_init(&fx);
		pds_tls_parser_data(fx.tls, 0, cases[i], lens[i], 1);
		g_assert_true(pds_tls_parser_get_anomalies(fx.tls, NULL) &
			      PDS_FLOW_ANOMALY_TLS_MALFORMED);
		/* Once broken, further bytes are ignored without harm. */
		pds_tls_parser_data(fx.tls, 0, cases[i], lens[i], 2);
		g_assert_cmpuint(fx.budget.peak, <=, 0);
		fixture_clear(&fx);
	}

	{
		/* A ClientHello whose extension lengths lie. */
		Fixture fx;
		g_autoptr(GByteArray) rec = g_byte_array_new();
		g_autoptr(GByteArray) ch = client_hello("x.test", TRUE);
		ch->data[ch->len - 20] = 0xff;
		ch->data[ch->len - 21] = 0xff;
		fixture_init(&fx);
		add_records(rec, 22, ch->data, ch->len, 16384);
		feed(&fx, 0, rec, 0, 1);
		g_assert_true(pds_tls_parser_get_anomalies(fx.tls, NULL) &
			      PDS_FLOW_ANOMALY_TLS_MALFORMED);
		fixture_clear(&fx);
	}
	{
		/* A hello cut short by the end of the stream: no crash, nothing reported. */
		Fixture fx;
		g_autoptr(GByteArray) rec = g_byte_array_new();
		g_autoptr(GByteArray) ch = client_hello("x.test", TRUE);
		fixture_init(&fx);
		add_records(rec, 22, ch->data, ch->len, 16384);
		pds_tls_parser_data(fx.tls, 0, rec->data, rec->len / 2, 1);
		g_assert_false(pds_tls_parser_get_info(fx.tls)->client_hello);
		fixture_clear(&fx);
	}
	{
		/* Random bytes after a valid start, in random pieces. */
		GRand *rand = g_rand_new_with_seed(42);
		for (guint round = 0; round < 2000; round++) {
			Fixture fx;
			guint8 buf[512];
			gsize off = 0;
			fixture_init(&fx);
			for (guint i = 0; i < sizeof(buf); i++)
				buf[i] = g_rand_int(rand);
			buf[0] = 22;
			buf[1] = 3;
			buf[2] = 1;
			while (off < sizeof(buf)) {
				gsize n = MIN(sizeof(buf) - off,
					      (gsize)g_rand_int_range(rand, 1, 64));
				pds_tls_parser_data(fx.tls, round & 1, buf + off, n, off);
				if (g_rand_int_range(rand, 0, 8) == 0)
					pds_tls_parser_gap(fx.tls, round & 1,
							   g_rand_int_range(rand, 1, 100));
				off += n;
			}
			fixture_clear(&fx);
		}
		g_rand_free(rand);
	}
}

static void
test_gap(void)
{
	Fixture fx;
	g_autoptr(GByteArray) c1 = g_byte_array_new();
	g_autoptr(GByteArray) ch = client_hello("gap.test", TRUE);

	/* A hole inside application data is skipped by record length. */
	fixture_init(&fx);
	add_opaque(c1, 23, 1000);
	pds_tls_parser_data(fx.tls, 0, c1->data, 100, 1);
	pds_tls_parser_gap(fx.tls, 0, 500);
	pds_tls_parser_data(fx.tls, 0, c1->data + 600, c1->len - 600, 2);
	g_byte_array_set_size(c1, 0);
	add_records(c1, 22, ch->data, ch->len, 16384);
	feed(&fx, 0, c1, 0, 3);
	g_assert_cmpstr(pds_tls_parser_get_info(fx.tls)->sni, ==, "gap.test");
	g_assert_true(pds_tls_parser_get_anomalies(fx.tls, NULL) & PDS_FLOW_ANOMALY_GAP);
	fixture_clear(&fx);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/analyzer/tls/1.3", test_tls13);
	g_test_add_func("/analyzer/tls/1.2", test_tls12);
	g_test_add_func("/analyzer/tls/hrr", test_hrr);
	g_test_add_func("/analyzer/tls/gap", test_gap);
	g_test_add_func("/analyzer/tls/bad/garbage", test_garbage);
	return g_test_run();
}
