/*-------------------------------------------------------------------------
 *
 * test_prom.c
 *	  Unit tests of prom.c: what the modules report lands in the right
 *	  series, and GET /metrics's text for one worker and for two is, byte
 *	  for byte, the one in test/unit/prom_*.expected.
 *
 * The expected files were written by the rendering of before the series
 * became table rows (issue 20), so that the table could not change a
 * byte.  After a deliberate change of the text,
 *		test/unit/test_prom --write
 * (from the top of the tree) writes them again: review their diff.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/prom.h"
#include "unit.h"

static bool write_expected = false;

/* record reports a fixed history into the values prom.c counts into now */
static void
record(int variant)
{
	PromGauges	g = {0};

	prom_request(PR_EVENTS, 200, 0.0003);
	prom_request(PR_EVENTS, 200, 0.002 * variant);
	prom_request(PR_EVENTS, 200, 7);	/* past the last bucket */
	prom_request(PR_EVENTS, 400, 0.001);
	prom_request(PR_EVENTS, 999, 0.5);	/* no code of its own: other */
	prom_request(PR_LOOKUP, 404, 0.03);
	if (variant == 1)
		prom_request(PR_STREAM, 101, 0.25);
	prom_accepted(3, variant);
	prom_journal_flush(1000 * (uint64_t) variant, 0.004);
	prom_ingested(3, variant);
	prom_ingest_error();
	g.backlog_bytes = 12345678901ULL * (uint64_t) variant;
	g.backlog_files = 2;
	g.ingest_lag_seconds = 1.5;
	g.connections = 7;
	g.subscribers = 3;
	prom_gauges(&g);
}

/*
 * check_expected compares the rendering with the file, or with --write
 * writes the file.
 */
static void
check_expected(const char *path)
{
	size_t		len = 0;
	char	   *text = prom_render(&len);
	char	   *want;
	long		wantlen;
	FILE	   *f;

	CHECK(text != NULL);
	if (text == NULL)
		return;
	if (write_expected)
	{
		f = fopen(path, "w");
		CHECK_MSG(f != NULL && fwrite(text, 1, len, f) == len && fclose(f) == 0,
				  "writing %s", path);
		free(text);
		return;
	}
	f = fopen(path, "r");
	CHECK_MSG(f != NULL, "%s (run from the top of the tree)", path);
	if (f == NULL)
	{
		free(text);
		return;
	}
	fseek(f, 0, SEEK_END);
	wantlen = ftell(f);
	rewind(f);
	want = malloc((size_t) wantlen + 1);
	CHECK(want != NULL && fread(want, 1, (size_t) wantlen, f) == (size_t) wantlen);
	fclose(f);
	CHECK_MEM_EQ(text, len, want, (size_t) wantlen);
	if (len != (size_t) wantlen || memcmp(text, want, len) != 0)
		fprintf(stderr, "%s: got:\n%.*s\n", path, (int) len, text);
	free(want);
	free(text);
}

/* one worker, before prom_attach: no worker label */
static void
test_one_worker(void)
{
	size_t		len;
	char	   *text;

	record(1);
	prom_build_info("1.4", "15.20 (Debian 15.20-0+deb12u1)", "1.0.1",
					"GnuTLS 3.7.9");
	text = prom_render(&len);
	CHECK(text != NULL && strlen(text) == len);
	CHECK(strstr(text, "\n# TYPE evproc_build_info gauge\n"
				 "evproc_build_info{version=\"1.4\",postgresql=\"15.20 (Debian 15.20-0+deb12u1)\","
				 "libmicrohttpd=\"1.0.1\",tls=\"GnuTLS 3.7.9\"} 1\n") != NULL);
	CHECK(strstr(text, "\nevproc_http_requests_total{route=\"liveEvent\",code=\"200\"} 3\n") != NULL);
	CHECK(strstr(text, "\nevproc_http_requests_total{route=\"liveEvent\",code=\"other\"} 1\n") != NULL);
	CHECK(strstr(text, "\nevproc_http_request_duration_seconds_bucket{route=\"liveEvent\",le=\"5\"} 4\n") != NULL);
	CHECK(strstr(text, "\nevproc_http_request_duration_seconds_bucket{route=\"liveEvent\",le=\"+Inf\"} 5\n") != NULL);
	CHECK(strstr(text, "\nevproc_ingest_backlog_bytes 1.23456789e+10\n") != NULL);
	CHECK(strstr(text, "worker=") == NULL);
	free(text);
	check_expected("test/unit/prom_one.expected");
}

/* two workers: each series once per worker, with its label */
static void
test_two_workers(void)
{
	static PromValues workers[2];
	size_t		len;
	char	   *text;

	prom_attach(workers, 2, 0);
	record(1);
	prom_attach(workers, 2, 1);
	record(2);
	CHECK_INT_EQ(prom_requests_total(&workers[0]), 7);
	CHECK_INT_EQ(prom_requests_total(&workers[1]), 6);
	text = prom_render(&len);
	CHECK(text != NULL);
	CHECK(strstr(text, "\nevproc_events_duplicate_total{worker=\"1\"} 2\n") != NULL);
	CHECK(strstr(text, "\nevproc_http_requests_total{route=\"stream\",code=\"101\",worker=\"0\"} 1\n") != NULL);
	CHECK(strstr(text, "route=\"stream\",code=\"101\",worker=\"1\"") == NULL);
	/* build info: once, whatever the workers; no quote or backslash inside */
	CHECK(strstr(text, "\nevproc_build_info{version=\"1.4\",") != NULL);
	free(text);
	prom_build_info("a\"b", "c\\d", "e\nf", "");
	text = prom_render(&len);
	CHECK(strstr(text, "\nevproc_build_info{version=\"a_b\",postgresql=\"c_d\","
				 "libmicrohttpd=\"e_f\",tls=\"\"} 1\n") != NULL);
	free(text);
	prom_build_info("1.4", "15.20 (Debian 15.20-0+deb12u1)", "1.0.1",
					"GnuTLS 3.7.9");
	check_expected("test/unit/prom_two.expected");
}

int
main(int argc, char **argv)
{
	write_expected = argc > 1 && strcmp(argv[1], "--write") == 0;
	test_one_worker();
	test_two_workers();
	return unit_summary();
}
