/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  The evproc.* configuration parameters.  Their names, defaults and
 *	  contexts are part of the public interface (see docs/settings.md).
 *
 * Parameters that shape the listening socket and the database connection
 * need a restart; the rest are re-read by the worker on SIGHUP.  Each one is
 * a row of the table below; settings_changed_groups tells the worker which
 * modules' settings a SIGHUP changed.
 *
 *-------------------------------------------------------------------------
 */
#include "shared/settings.h"
#include "shared/workers.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <unistd.h>

#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/memutils.h"

char	   *evproc_listen_address = NULL;
int			evproc_port = 8000;
char	   *evproc_database = NULL;
char	   *evproc_directory = NULL;
int			evproc_rotation_interval = 60;
bool		evproc_fsync = true;
char	   *evproc_auth_token = NULL;
char	   *evproc_auth_token_file = NULL;
bool		evproc_public_reads = false;
char	   *evproc_allowed_origins = NULL;
char	   *evproc_tls_cert_file = NULL;
char	   *evproc_tls_key_file = NULL;
int			evproc_max_header_size = 8 * 1024;
int			evproc_max_body_size = 1024 * 1024;
int			evproc_max_batch_events = 10000;
int			evproc_dedupe_retention = 7 * 24 * 3600;
int			evproc_max_connections = 1024;
int			evproc_workers = 1;
int			evproc_connection_timeout = 30;
int			evproc_rotation_size = 1024 * 1024;	/* kB */
int			evproc_processed_retention = 24 * 3600;
int			evproc_max_rejected_lines = 1000;
int			evproc_notify_max_users = 1000;
int			evproc_max_subscribers = 5000;
int			evproc_reserved_connections = 128;
int			evproc_max_streams_per_client = 64;
int			evproc_max_backlog = 2 * 1024 * 1024;
int			evproc_min_free_space = 256 * 1024;
int			evproc_request_timeout = 10;
int			evproc_max_body_memory = 64 * 1024 * 1024;
int			evproc_rate_limit_per_client = 0;
int			evproc_read_rate_limit_per_client = 1000;
char	   *evproc_fault_injection = NULL;
char	   *evproc_journal_storage = NULL;

/*
 * check_listen_address accepts "*", an IPv4 or an IPv6 address, nothing
 * else: not a host name, not a list, and not "" (for PostgreSQL's own
 * listen_addresses that means no TCP at all; evproc would have listened on
 * every address).
 */
static bool
check_listen_address(char **newval, void **extra, GucSource source)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcmp(*newval, "*") == 0 ||
		inet_pton(AF_INET, *newval, &a4) == 1 ||
		inet_pton(AF_INET6, *newval, &a6) == 1)
		return true;
	GUC_check_errdetail("evproc.listen_address must be an IPv4 address, an IPv6 address or \"*\" (all IPv4 addresses).");
	return false;
}

/*
 * check_allowed_origins accepts "*" and comma-separated origins as
 * browsers send them in Origin: scheme://host[:port], without a path.
 */
static bool
check_allowed_origins(char **newval, void **extra, GucSource source)
{
	const char *cursor = *newval;
	const char *p;
	size_t		len;

	while ((p = settings_list_next(&cursor, &len)) != NULL)
	{
		const char *authority = strstr(p, "://");
		size_t		i;

		if (!(len == 1 && p[0] == '*'))
		{
			bool		ok;

			ok = authority != NULL && authority > p &&
				(size_t) (authority - p) + 3 < len;
			for (i = 0; ok && i < len; i++)
				ok = p[i] != '/' || (p + i >= authority && p + i < authority + 3);
			for (i = 0; ok && i < len; i++)
				ok = p[i] > ' ' && p[i] != '?' && p[i] != '#' && p[i] != '"';
			if (!ok)
			{
				GUC_check_errdetail("evproc.allowed_origins is \"*\" or a comma-separated list of origins such as \"https://app.example.com\" or \"http://localhost:3000\" (scheme://host[:port], no path).");
				return false;
			}
		}
	}
	return true;
}

/* check_journal_storage accepts "files" and "database". */
static bool
check_journal_storage(char **newval, void **extra, GucSource source)
{
	if (strcmp(*newval, "files") == 0 || strcmp(*newval, "database") == 0)
		return true;
	GUC_check_errdetail("evproc.journal_storage is \"files\" or \"database\".");
	return false;
}

/*
 * settings_journal_in_database: is the journal kept in the database
 * (evproc.journal_storage = database) rather than in files?
 */
bool
settings_journal_in_database(void)
{
	return evproc_journal_storage != NULL &&
		strcmp(evproc_journal_storage, "database") == 0;
}

/*
 * settings_list_next gives the next item of a comma-separated list setting
 * (its start, and in *len its length without the blanks around it) and
 * moves *cursor past it; NULL once the list is over.
 */
const char *
settings_list_next(const char **cursor, size_t *len)
{
	const char *p = *cursor;
	const char *end;

	if (p == NULL || *p == '\0')
		return NULL;
	end = strchr(p, ',');
	while (*p == ' ' || *p == '\t')
		p++;
	*len = end != NULL ? (size_t) (end - p) : strlen(p);
	while (*len > 0 && (p[*len - 1] == ' ' || p[*len - 1] == '\t'))
		(*len)--;
	*cursor = end != NULL ? end + 1 : NULL;
	return p;
}

/*
 * The settings, one row each.  A row gives, in order: the name; the C
 * variable it sets; the default (and for an integer its minimum and
 * maximum); the context (PGC_POSTMASTER: restart, PGC_SIGHUP: reload,
 * PGC_SUSET: superusers may also SET it); the GUC flags (unit, visibility);
 * for a string its check hook; the reload group, that is which module must
 * apply it when it changes on SIGHUP (RELOAD_NONE: read where it is used,
 * or not reloadable); the short and the long description of pg_settings.
 * docs/settings.md's settings table is checked against these rows (make
 * structurecheck, scripts/settings_table.py): keep the rows one macro
 * call each, with literal names and defaults.
 */
typedef enum SettingType
{
	SETTING_TYPE_BOOL,
	SETTING_TYPE_INT,
	SETTING_TYPE_STRING,
} SettingType;

typedef struct SettingRow
{
	const char *name;
	SettingType type;
	void	   *var;			/* bool *, int * or char ** */
	int			int_default;	/* int and bool */
	const char *string_default;
	int			min;
	int			max;
	GucContext	context;
	int			flags;
	GucStringCheckHook check;
	ReloadGroup reload;
	const char *short_desc;
	const char *long_desc;
} SettingRow;

#define SETTING_INT(name, var, def, min, max, context, flags, reload, \
					short_desc, long_desc) \
	{name, SETTING_TYPE_INT, &(var), def, NULL, min, max, context, flags, \
	 NULL, reload, short_desc, long_desc}
#define SETTING_STRING(name, var, def, context, flags, check, reload, \
					   short_desc, long_desc) \
	{name, SETTING_TYPE_STRING, &(var), 0, def, 0, 0, context, flags, \
	 check, reload, short_desc, long_desc}
#define SETTING_BOOL(name, var, def, context, flags, reload, \
					 short_desc, long_desc) \
	{name, SETTING_TYPE_BOOL, &(var), def, NULL, 0, 0, context, flags, \
	 NULL, reload, short_desc, long_desc}

static const SettingRow settings[] = {
	SETTING_STRING("evproc.listen_address", evproc_listen_address,
				   "127.0.0.1", PGC_POSTMASTER, 0, check_listen_address, RELOAD_NONE,
				   "Address the evproc HTTP server listens on.",
				   "An IPv4 or IPv6 address; \"*\" means all IPv4 addresses."),
	SETTING_INT("evproc.port", evproc_port,
				8000, 1, 65535, PGC_POSTMASTER, 0, RELOAD_NONE,
				"TCP port of the evproc HTTP server.",
				NULL),
	SETTING_STRING("evproc.database", evproc_database,
				   "postgres", PGC_POSTMASTER, 0, NULL, RELOAD_NONE,
				   "Database the evproc worker connects to.",
				   "The evproc extension must be created in this database."),
	SETTING_STRING("evproc.directory", evproc_directory,
				   "evproc", PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, RELOAD_DIRECTORY,
				   "Directory of the event journal.",
				   "A relative path is taken from the data directory."),
	SETTING_STRING("evproc.journal_storage", evproc_journal_storage,
				   "files", PGC_POSTMASTER, 0, check_journal_storage, RELOAD_NONE,
				   "Where the journal of accepted events is kept: files or database.",
				   "files: events.jsonl in evproc.directory, fdatasync'd before the 200.  database: each group commit is a transaction on the journal tables of the extension, committed (and replicated to a synchronous standby) before the 200."),
	SETTING_INT("evproc.rotation_interval", evproc_rotation_interval,
				60, 1, 86400, PGC_SIGHUP, GUC_UNIT_S, RELOAD_NONE,
				"Time between rotations of a non-empty journal.",
				NULL),
	SETTING_INT("evproc.rotation_size", evproc_rotation_size,
				1024 * 1024, 0, INT_MAX / 2, PGC_SIGHUP, GUC_UNIT_KB, RELOAD_NONE,
				"Size at which the journal is rotated before its interval is up.",
				"0 rotates by time only."),
	SETTING_INT("evproc.processed_retention", evproc_processed_retention,
				24 * 3600, -1, INT_MAX, PGC_SIGHUP, GUC_UNIT_S, RELOAD_NONE,
				"How long ingested files are kept in the processed/ directory.",
				"0 removes them once ingested; -1 keeps them forever."),
	SETTING_INT("evproc.max_rejected_lines", evproc_max_rejected_lines,
				1000, 0, 1000000, PGC_SIGHUP, 0, RELOAD_NONE,
				"Most rejected lines of one file kept in evproc.rejected_lines.",
				"Further rejected lines are only counted in evproc.processed_files."),
	SETTING_INT("evproc.max_backlog", evproc_max_backlog,
				2 * 1024 * 1024, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_KB, RELOAD_NONE,
				"Most bytes of acknowledged events not yet counted before POSTs are refused.",
				"The archived files waiting and the active journal; past it POST /liveEvent answers 503 with Retry-After.  0 turns it off."),
	SETTING_INT("evproc.min_free_space", evproc_min_free_space,
				256 * 1024, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_KB, RELOAD_NONE,
				"Least free space on the journal's file system for POSTs to be accepted.",
				"Under it POST /liveEvent answers 503 with Retry-After.  0 turns it off."),
	SETTING_INT("evproc.rate_limit_per_client", evproc_rate_limit_per_client,
				0, 0, 10000000, PGC_SIGHUP, 0, RELOAD_NONE,
				"Most events per second POST /liveEvent accepts from one client address.",
				"With a burst of one second's worth; a batch counts as its events, and past the limit is refused whole with 429 and Retry-After (413 if it is larger than the burst).  An IPv6 client is its /64 prefix.  Each worker counts on its own.  0 turns it off."),
	SETTING_INT("evproc.read_rate_limit_per_client", evproc_read_rate_limit_per_client,
				1000, 0, 10000000, PGC_SIGHUP, 0, RELOAD_NONE,
				"Most reads per second (GET /userEvents/:id, /topUsers, streams opened) the server answers one client address.",
				"With a burst of one second's worth; past the limit 429 with Retry-After.  An IPv6 client is its /64 prefix.  Each worker counts on its own.  0 turns it off."),
	SETTING_INT("evproc.max_subscribers", evproc_max_subscribers,
				5000, 0, 1000000, PGC_SIGHUP, 0, RELOAD_NONE,
				"Most live-update streams (GET .../stream) a worker serves at once.",
				"Beyond it a new stream gets 503 with Retry-After.  Streams count toward evproc.max_connections too."),
	SETTING_INT("evproc.max_streams_per_client", evproc_max_streams_per_client,
				64, 0, 1000000, PGC_SIGHUP, 0, RELOAD_NONE,
				"Most live-update streams one client address holds open on a worker.",
				"Server-Sent Events and WebSocket alike; beyond it a new stream gets 429 with Retry-After.  An IPv6 client is its /64 prefix.  0 turns it off (behind a reverse proxy every client is the proxy)."),
	SETTING_INT("evproc.notify_max_users", evproc_notify_max_users,
				1000, 0, 100000, PGC_SIGHUP, 0, RELOAD_NONE,
				"Most users of one ingested file notified one by one on channel evproc_updates.",
				"A file that changes more users sends one summary notification naming the file instead; 0 sends only that."),
	SETTING_BOOL("evproc.fsync", evproc_fsync,
				 true, PGC_SIGHUP, 0, RELOAD_INTAKE,
				 "Make each journal write durable before acknowledging it.",
				 "When off, an operating system crash can lose acknowledged events."),
	SETTING_STRING("evproc.auth_token", evproc_auth_token,
				   "", PGC_SIGHUP, GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL, NULL, RELOAD_AUTH,
				   "Token HTTP clients must send in the Authorization header.",
				   "Empty means no authentication."),
	SETTING_STRING("evproc.auth_token_file", evproc_auth_token_file,
				   "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, RELOAD_AUTH,
				   "File holding the token HTTP clients must send.",
				   "Takes precedence over evproc.auth_token; keeps the token out of the configuration and the server log."),
	SETTING_BOOL("evproc.public_reads", evproc_public_reads,
				 false, PGC_SIGHUP, 0, RELOAD_NONE,
				 "Lets GET lookups in without a token.",
				 "GET /userEvents/:userId, GET /userEvents/:userId/stream and GET /topUsers need no token when on; GET /stream and GET /metrics still need one with the read scope, POST /liveEvent one with the write scope."),
	SETTING_STRING("evproc.allowed_origins", evproc_allowed_origins,
				   "", PGC_SIGHUP, 0, check_allowed_origins, RELOAD_NONE,
				   "Origins of browser pages that may send writes and tokens to evproc.",
				   "A comma-separated list such as \"https://app.example.com, http://localhost:3000\", or \"*\" for any.  Writes and requests with a token from other origins (Origin, Sec-Fetch-Site) get 403; clients that are not browsers send no Origin and are not affected."),
	SETTING_STRING("evproc.tls_cert_file", evproc_tls_cert_file,
				   "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, RELOAD_TLS,
				   "Certificate file (PEM) of the HTTP server; with evproc.tls_key_file, the port speaks HTTPS only.",
				   "The server certificate first, then any intermediate ones.  A relative path is taken from the data directory.  Re-read on reload; a reload that turns HTTPS on or off restarts the worker (back within 5 s)."),
	SETTING_STRING("evproc.tls_key_file", evproc_tls_key_file,
				   "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, RELOAD_TLS,
				   "Private key file (PEM, unencrypted) of the HTTP server's certificate.",
				   "Refused if group or others may read it (0600, or 0640 if owned by root), as for ssl_key_file.  A relative path is taken from the data directory."),
	SETTING_INT("evproc.max_header_size", evproc_max_header_size,
				8 * 1024, 4 * 1024, 1024 * 1024, PGC_POSTMASTER, GUC_UNIT_BYTE, RELOAD_NONE,
				"Memory for the request line and headers of one HTTP connection.",
				"Larger requests are answered with 431.  About half of it is a connection's memory for as long as it is open, a stream's too: 8kB, as nginx and Apache allow, keeps 10,000 subscribers near 128 MB."),
	SETTING_INT("evproc.max_body_size", evproc_max_body_size,
				1024 * 1024, 64, 64 * 1024 * 1024, PGC_SIGHUP, GUC_UNIT_BYTE, RELOAD_NONE,
				"Largest accepted HTTP request body.",
				NULL),
	SETTING_INT("evproc.max_batch_events", evproc_max_batch_events,
				10000, 1, 1000000, PGC_SIGHUP, 0, RELOAD_NONE,
				"Largest number of events in one POST.",
				NULL),
	SETTING_INT("evproc.dedupe_retention", evproc_dedupe_retention,
				7 * 24 * 3600, 60, INT_MAX, PGC_SIGHUP, GUC_UNIT_S, RELOAD_NONE,
				"How long eventIds are remembered to drop repeated events.",
				"An event repeated after this long is counted again."),
	SETTING_INT("evproc.workers", evproc_workers,
				1, 1, EVPROC_MAX_WORKERS, PGC_POSTMASTER, 0, RELOAD_NONE,
				"Number of evproc workers sharing the HTTP port.",
				"Each has its own journal (worker N > 0 in the subdirectory workerN) and its own exactly-once ingest."),
	SETTING_INT("evproc.max_connections", evproc_max_connections,
				1024, 1, 65536, PGC_POSTMASTER, 0, RELOAD_NONE,
				"Largest number of concurrent HTTP connections.",
				"At most the open file limit less 128, which the worker raises to the hard limit at start.  A few connections beyond it are accepted only to be answered 503 with Retry-After."),
	SETTING_INT("evproc.reserved_connections", evproc_reserved_connections,
				128, 0, 65536, PGC_POSTMASTER, 0, RELOAD_NONE,
				"HTTP connections of evproc.max_connections that live-update streams may never hold.",
				"Kept for requests (POST, GET, /health): streams beyond evproc.max_connections less this get 503 with Retry-After."),
	SETTING_INT("evproc.connection_timeout", evproc_connection_timeout,
				30, 1, 3600, PGC_POSTMASTER, GUC_UNIT_S, RELOAD_NONE,
				"Idle time after which an HTTP connection is closed.",
				NULL),
	SETTING_INT("evproc.request_timeout", evproc_request_timeout,
				10, 0, 3600, PGC_SIGHUP, GUC_UNIT_S, RELOAD_NONE,
				"Time within which an HTTP request must arrive in full.",
				"The request line, headers and body; counted from the connection's start or, on a kept-alive connection, from the request's first byte.  0 turns the limit off."),
	SETTING_INT("evproc.max_body_memory", evproc_max_body_memory,
				64 * 1024 * 1024, 64 * 1024, INT_MAX, PGC_SIGHUP, GUC_UNIT_BYTE, RELOAD_NONE,
				"Memory for the request bodies being received, all connections together.",
				"A POST that would pass it is answered with 503 and Retry-After."),
	SETTING_STRING("evproc.fault_injection", evproc_fault_injection,
				   "", PGC_SUSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE, NULL, RELOAD_INTAKE,
				   "Test only: crash the worker at the named point.",
				   "Used by the crash tests; see README."),
};

/*
 * The value of each row seen by the previous settings_changed_groups (a
 * copy: a string setting's storage is freed by the next assignment).
 */
typedef struct SeenValue
{
	int			i;
	char	   *s;
} SeenValue;

static SeenValue seen[lengthof(settings)];
static bool seen_taken = false;

/* evproc_define_settings defines every row of the table. */
void
evproc_define_settings(void)
{
	for (int i = 0; i < lengthof(settings); i++)
	{
		const SettingRow *r = &settings[i];

		switch (r->type)
		{
			case SETTING_TYPE_BOOL:
				DefineCustomBoolVariable(r->name, r->short_desc, r->long_desc,
										 (bool *) r->var, r->int_default != 0,
										 r->context, r->flags,
										 NULL, NULL, NULL);
				break;
			case SETTING_TYPE_INT:
				DefineCustomIntVariable(r->name, r->short_desc, r->long_desc,
										(int *) r->var, r->int_default,
										r->min, r->max,
										r->context, r->flags,
										NULL, NULL, NULL);
				break;
			case SETTING_TYPE_STRING:
				DefineCustomStringVariable(r->name, r->short_desc, r->long_desc,
										   (char **) r->var, r->string_default,
										   r->context, r->flags,
										   r->check, NULL, NULL);
				break;
		}
	}

	MarkGUCPrefixReserved("evproc");
}

/*
 * settings_changed_groups returns the RELOAD_* groups of the rows whose
 * value differs from the one the previous call saw (all groups on the
 * first call), and remembers the current values.  The worker calls it at
 * start and after each ProcessConfigFile.
 */
int
settings_changed_groups(void)
{
	int			changed = 0;

	for (int i = 0; i < lengthof(settings); i++)
	{
		const SettingRow *r = &settings[i];
		SeenValue  *v = &seen[i];

		if (r->reload == RELOAD_NONE)
			continue;
		if (r->type == SETTING_TYPE_STRING)
		{
			const char *now = *(char **) r->var;

			if (now == NULL)
				now = "";
			if (!seen_taken || strcmp(v->s, now) != 0)
			{
				changed |= r->reload;
				if (v->s != NULL)
					pfree(v->s);
				v->s = MemoryContextStrdup(TopMemoryContext, now);
			}
		}
		else
		{
			int			now = r->type == SETTING_TYPE_BOOL ?
				(int) *(bool *) r->var : *(int *) r->var;

			if (!seen_taken || v->i != now)
				changed |= r->reload;
			v->i = now;
		}
	}
	seen_taken = true;
	return changed;
}

/*
 * evproc_fault crashes the worker (SIGKILL, like a power cut of just this
 * process: the postmaster then runs crash recovery) if evproc.fault_injection
 * names this point.  The crash tests use it to stop at exact places.
 */
void
evproc_fault(const char *point)
{
	if (evproc_fault_injection != NULL &&
		strcmp(evproc_fault_injection, point) == 0)
	{
		ereport(LOG,
				(errmsg("evproc: fault injection at \"%s\"", point)));
		kill(getpid(), SIGKILL);
		pg_usleep(10L * 1000000L);	/* not reached */
	}
}
