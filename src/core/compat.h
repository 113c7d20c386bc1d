/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  Every difference between the versions of PostgreSQL, json-c and
 *	  libmicrohttpd that evproc builds with, in one place; the rest of src/
 *	  uses the names defined here and never tests PG_VERSION_NUM,
 *	  JSON_C_VERSION_NUM or MHD_VERSION itself.
 *
 *	  Tested: PostgreSQL 15, json-c 0.16, libmicrohttpd 0.9.75 (Debian 12);
 *	  PostgreSQL 17, json-c 0.18, libmicrohttpd 1.0.1 (Debian 13);
 *	  PostgreSQL 18, json-c 0.19, libmicrohttpd 1.0.x (Debian unstable).
 *	  PostgreSQL 16 takes the branches of 15 here (its CreateWaitEventSet
 *	  and PGPROC are those of 15); it compiles by reasoning, untested: no
 *	  Debian release ships it.  libmicrohttpd: the option that sets how
 *	  strictly it reads requests (see below).
 *
 *	  In core/ (the lowest folder) so that the backend-free code can use
 *	  its json-c part; the PostgreSQL part is only read by backend code,
 *	  which has included postgres.h first, and includes no backend header
 *	  otherwise (core/ and journal/ stay free of them).
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_COMPAT_H
#define EVPROC_COMPAT_H

/* ---- json-c (core/event.c, core/json_compat.c) ---- */

#include <json-c/json_c_version.h>

/*
 * In JSON_TOKENER_STRICT mode json-c 0.17 and later refuse an integer
 * outside int64 (negative) or uint64 as "number expected"; up to 0.16 they
 * saturate it, and evproc says "value must be less than 10^18" (or
 * "non-negative").  json-c 0.18 also refuses every non-ASCII byte in a
 * string as "invalid utf-8 string" (it compares a signed char with 0x1f;
 * json-c issue #875, fixed in 0.19).  For these versions, the text json-c
 * reads is rewritten first (json_compat.c): such an integer gets ".0"
 * (json-c keeps a double's text, which decimal.c reads exactly), and on
 * 0.18 non-ASCII characters become \u escapes, which json-c decodes to
 * the same bytes.  The events read are the same on every version.
 */
#define COMPAT_JSONC_WIDE_INTEGERS	(JSON_C_VERSION_NUM >= 0x001100)
#define COMPAT_JSONC_ESCAPE_NON_ASCII \
	(JSON_C_VERSION_NUM >= 0x001200 && JSON_C_VERSION_NUM < 0x001300)

/* ---- PostgreSQL (backend code only: postgres.h comes first) ---- */

#ifdef PG_VERSION_NUM

#if PG_VERSION_NUM < 150000
#error "evproc needs PostgreSQL 15 or later (shmem_request_hook, MarkGUCPrefixReserved)"
#endif

#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/memutils.h"

/*
 * compat_my_procno(): this process's index in ProcGlobal->allProcs, for
 * another process's SetLatch.  PGPROC's pgprocno up to 16; 17 dropped the
 * field for MyProcNumber (storage/procnumber.h, included by proc.h).
 */
#if PG_VERSION_NUM >= 170000
#define compat_my_procno()	((int) MyProcNumber)
#else
#define compat_my_procno()	(MyProc->pgprocno)
#endif

/*
 * compat_create_wait_event_set(nevents): a wait event set that lives as
 * long as the process.  Up to 16 CreateWaitEventSet takes the memory
 * context to allocate it in; 17 takes a resource owner instead, and with
 * none (NULL) allocates it in TopMemoryContext, untracked: the same thing.
 */
#if PG_VERSION_NUM >= 170000
#define compat_create_wait_event_set(nevents) \
	CreateWaitEventSet(NULL, (nevents))
#else
#define compat_create_wait_event_set(nevents) \
	CreateWaitEventSet(TopMemoryContext, (nevents))
#endif

#endif							/* PG_VERSION_NUM */

/* ---- libmicrohttpd (http/ code only: microhttpd.h comes first) ---- */

#ifdef MHD_VERSION

/*
 * COMPAT_MHD_DISCIPLINE: the daemon option (an int follows) that sets how
 * strictly libmicrohttpd reads a request.  0.9.77 and later take
 * MHD_OPTION_CLIENT_DISCIPLINE_LVL (-3 to 3); before, the older
 * MHD_OPTION_STRICT_FOR_CLIENT, whose 0 is the same level.  evproc asks for
 * 0, the default, explicitly (http_start in http.c): the strictest
 * level that still hands evproc the framing it checks itself
 * (conn_framing_error).  Level 1 makes libmicrohttpd 1.0 answer two equal
 * Content-Length, and Content-Length with Transfer-Encoding, with its own
 * HTML page instead of evproc's JSON error.  Negative levels are no way to
 * evproc's JSON for the rest: down to -2, 1.0 still refuses whitespace before
 * a header colon and "Transfer-Encoding: gzip, chunked" itself (there is no
 * hook for the body of those early replies), and -3 strips that whitespace
 * and takes "Transfer-Encoding : chunked" as chunked, which a proxy in front
 * may not: request smuggling.  So on 1.0 some bad framing is refused by
 * libmicrohttpd (400, or 501 for an unknown transfer coding in 1.0.10),
 * never run; test/t/030_request_edges.pl lists which.
 */
#if MHD_VERSION >= 0x00097701
#define COMPAT_MHD_DISCIPLINE	MHD_OPTION_CLIENT_DISCIPLINE_LVL
#else
#define COMPAT_MHD_DISCIPLINE	MHD_OPTION_STRICT_FOR_CLIENT
#endif

#endif							/* MHD_VERSION */

/* ---- json_compat.c ---- */

#include <stdbool.h>
#include <stddef.h>

extern char *compat_json_rewrite(const char *buf, size_t len, bool escape,
								 size_t *outlen);
extern size_t compat_json_source_offset(const char *buf, size_t len,
										bool escape, size_t offset);

#endif							/* EVPROC_COMPAT_H */
