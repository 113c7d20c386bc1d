/*-------------------------------------------------------------------------
 *
 * evproc-client.c
 *	  evproc-client: the command line, the help text, and the commands
 *	  that need no server ("generate", "assign-ids").  "send" is in
 *	  send.c, "revenue" in revenue_cmd.c, "watch" in watch.c.
 *
 * Exit status: 0 success (for watch: interrupted); 1 when events were
 * rejected or failed, or the server could not be reached or answered an
 * error; 2 for usage errors.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "console.h"
#include "generate.h"
#include "jsonl.h"
#include "urlenc.h"

#define DEFAULT_BATCH_SIZE		1000
#define MAX_BATCH_SIZE			100000
#define DEFAULT_CONCURRENCY		4
#define MAX_CONCURRENCY			256
#define DEFAULT_TIMEOUT_S		30
#define DEFAULT_MAX_RETRIES		10
#define DEFAULT_MAX_BATCH_BYTES (512 * 1024)
#define DEFAULT_USERS			5
#define DEFAULT_SEED			1

volatile sig_atomic_t cl_interrupted = 0;

static const char *progname = "evproc-client";

static const char usage_text[] =
"NAME\n"
"    evproc-client - send revenue events to an evproc server and read revenue\n"
"\n"
"SYNOPSIS\n"
"    evproc-client [OPTIONS] send [FILE|-]\n"
"    evproc-client [OPTIONS] revenue USER\n"
"    evproc-client [OPTIONS] watch USER\n"
"    evproc-client [OPTIONS] watch --all [--users U1,U2,...]\n"
"    evproc-client generate N [--users U] [--seed S] [--types T1,T2,...]\n"
"    evproc-client assign-ids [FILE|-]\n"
"    evproc-client --help | --version\n"
"\n"
"COMMANDS\n"
"    send [FILE|-]\n"
"        Stream JSONL events (one JSON object per line) from FILE, or from\n"
"        standard input if FILE is \"-\" or missing, to POST /liveEvent in\n"
"        batches (NDJSON bodies).  Every event without an \"eventId\" gets a\n"
"        random UUID before it is first sent, and keeps it on every retry,\n"
"        so the server counts it at most once.  Lines that are not JSON\n"
"        objects are rejected locally, with their line number.  A batch\n"
"        refused for one bad event (400) is sent again without it.\n"
"        Connection errors, timeouts, 429 and 5xx replies are retried with\n"
"        exponential back-off and full jitter (100 ms base, 10 s cap); other\n"
"        4xx replies are not.  Bodies are compressed with gzip\n"
"        (Content-Encoding: gzip) unless --no-compress.  Prints a summary\n"
"        on standard output: events read, sent, accepted, duplicates\n"
"        (accepted, but already known to the server), rejected (with the\n"
"        first reasons), failed.\n"
"        Note: ids are assigned per run; sending the same file again in a new\n"
"        run counts its events again unless the file carries eventIds (see\n"
"        assign-ids).\n"
"\n"
"    revenue USER\n"
"        Print the revenue of USER (GET /userEvents/USER, percent-encoded)\n"
"        on the first line, then each of the user's other metrics, if any,\n"
"        as \"NAME VALUE\" lines sorted by name (byte order).  Values are\n"
"        printed exactly as the server wrote them.  An unknown user is an\n"
"        error (exit status 1).\n"
"\n"
"    watch USER\n"
"    watch --all [--users U1,U2,...]\n"
"        Follow the live updates of USER (GET /userEvents/USER/stream), of\n"
"        every user (GET /stream), or of the listed users only, and print\n"
"        each message's data, the user's new state as JSON, as one line on\n"
"        standard output as soon as it comes (the line is flushed).\n"
"        Runs until interrupted (Ctrl-C: exit status 0).  When the\n"
"        connection breaks or ends, or the server answers 429 or 5xx,\n"
"        connects again with exponential back-off and full jitter (100 ms\n"
"        base, 10 s cap, Retry-After and the stream's \"retry:\" honoured\n"
"        up to 10 s), sending Last-Event-ID: the id of the last message,\n"
"        so that nothing printed is repeated and nothing is missed (after\n"
"        a gap the server sends the current state).  Other HTTP errors\n"
"        (401, 403, 404, ...) end the run with exit status 1.  Messages\n"
"        about the connection go to standard error.  --timeout limits\n"
"        connecting only; a connection that is silent for 45 s (the server\n"
"        pings every 15 s) is dropped and made again.\n"
"\n"
"    generate N [--users U] [--seed S] [--types T1,T2,...]\n"
"        Write N test events to standard output: userIds user1..userU\n"
"        (default 5), integer values 0..99, no eventIds.  Names are drawn\n"
"        from the --types list, each equally likely (list a name twice to\n"
"        draw it twice as often); without --types, add_revenue (3 in 4) or\n"
"        subtract_revenue.  The same seed (default 1) and list give the\n"
"        same events.\n"
"\n"
"    assign-ids [FILE|-]\n"
"        Copy JSONL events to standard output, adding a random UUID\n"
"        \"eventId\" to each event that has none, without sending anything.\n"
"        A file prepared this way can be sent any number of times and its\n"
"        events are still counted once.\n"
"\n"
"OPTIONS\n"
"    --url URL          server base URL (default $EVPROC_URL, else\n"
"                       " CLIENT_DEFAULT_URL ")\n"
"    --token TOKEN      send \"Authorization: Bearer TOKEN\" (default\n"
"                       $EVPROC_TOKEN; none if empty)\n"
"    --timeout SECONDS  time limit of one request (default 30; decimals ok)\n"
"    --max-retries N    retries per request (default 10; 0: never retry);\n"
"                       watch: consecutive failed connections (default:\n"
"                       no limit)\n"
"    --all              watch: every user's updates\n"
"    --since ID         watch: resume after message ID (the first\n"
"                       connection's Last-Event-ID), e.g. the last \"seq\"\n"
"                       seen\n"
"    --batch-size N     events per request for send (default 1000, at most\n"
"                       100000; keep it below the server's limit, 10000 by\n"
"                       default)\n"
"    --max-batch-bytes N  a batch is closed once its body reaches N bytes\n"
"                       (default 524288; keep it below the server's\n"
"                       evproc.max_body_size, 1 MB by default)\n"
"    --concurrency N    requests in flight for send (default 4)\n"
"    --progress         report progress on stderr every second even if\n"
"                       stderr is not a terminal\n"
"    --no-progress      never report progress\n"
"    --no-compress      send: send bodies as they are, not gzip-compressed\n"
"                       (for a server that does not take Content-Encoding)\n"
"    --users U          generate: number of distinct users (default 5)\n"
"    --users U1,U2,...  watch --all: only these users (each percent-encoded)\n"
"    --seed S           generate: seed, 0..2^64-1 (default 1)\n"
"    --types T1,T2,...  generate: event type names, separated by commas;\n"
"                       each 1 to 63 bytes of ASCII letters, digits, '_',\n"
"                       '-' and '.', the first a letter\n"
"    -h, --help         show this text\n"
"    --version          show the version\n"
"    --                 end of options (for a file or user id starting with -)\n"
"\n"
"EXIT STATUS\n"
"    0  everything succeeded: for send, every event read was accepted\n"
"       (duplicates count as accepted)\n"
"    1  send: events were rejected or failed, or the run stopped early;\n"
"       revenue: unknown user, or the server could not be asked;\n"
"       watch: an HTTP error other than 429 and 5xx, a reply that is not\n"
"       an event stream, or --max-retries failed connections in a row\n"
"    2  usage error (bad option or argument, unreadable input file)\n"
"\n"
"ENVIRONMENT\n"
"    EVPROC_URL, EVPROC_TOKEN  defaults for --url and --token\n"
"\n"
"EXAMPLES\n"
"    evproc-client generate 100000 --users 50 > events.jsonl\n"
"    evproc-client send events.jsonl\n"
"    evproc-client generate 1000 | evproc-client send --batch-size 100 -\n"
"    evproc-client generate 1000 --types add_revenue,refund,purchase > mixed.jsonl\n"
"    evproc-client --url http://10.0.0.5:8000 --token s3cret revenue user1\n"
"    evproc-client watch user1\n"
"    evproc-client watch --all --users user1,user2 | jq -c .revenue\n";

/* options that only some commands take */
enum
{
	OPT_URL = 256,
	OPT_TOKEN,
	OPT_TIMEOUT,
	OPT_MAX_RETRIES,
	OPT_BATCH_SIZE,
	OPT_MAX_BATCH_BYTES,
	OPT_CONCURRENCY,
	OPT_PROGRESS,
	OPT_NO_PROGRESS,
	OPT_USERS,
	OPT_SEED,
	OPT_TYPES,
	OPT_ALL,
	OPT_SINCE,
	OPT_NO_COMPRESS,
	OPT_VERSION
};

#define SEEN(opt)	(1u << ((opt) - OPT_URL))

/* which command takes which option (--url and --token are global) */
#define SEND_OPTS	(SEEN(OPT_TIMEOUT) | SEEN(OPT_MAX_RETRIES) | \
					 SEEN(OPT_BATCH_SIZE) | SEEN(OPT_MAX_BATCH_BYTES) | \
					 SEEN(OPT_CONCURRENCY) | SEEN(OPT_PROGRESS) | \
					 SEEN(OPT_NO_PROGRESS) | SEEN(OPT_NO_COMPRESS))
#define REVENUE_OPTS (SEEN(OPT_TIMEOUT) | SEEN(OPT_MAX_RETRIES))
#define GENERATE_OPTS (SEEN(OPT_USERS) | SEEN(OPT_SEED) | SEEN(OPT_TYPES))
#define WATCH_OPTS	(SEEN(OPT_TIMEOUT) | SEEN(OPT_MAX_RETRIES) | \
					 SEEN(OPT_ALL) | SEEN(OPT_USERS) | SEEN(OPT_SINCE))

static const struct option long_options[] = {
	{"url", required_argument, NULL, OPT_URL},
	{"token", required_argument, NULL, OPT_TOKEN},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"max-retries", required_argument, NULL, OPT_MAX_RETRIES},
	{"batch-size", required_argument, NULL, OPT_BATCH_SIZE},
	{"max-batch-bytes", required_argument, NULL, OPT_MAX_BATCH_BYTES},
	{"concurrency", required_argument, NULL, OPT_CONCURRENCY},
	{"progress", no_argument, NULL, OPT_PROGRESS},
	{"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
	{"no-compress", no_argument, NULL, OPT_NO_COMPRESS},
	{"users", required_argument, NULL, OPT_USERS},
	{"seed", required_argument, NULL, OPT_SEED},
	{"types", required_argument, NULL, OPT_TYPES},
	{"all", no_argument, NULL, OPT_ALL},
	{"since", required_argument, NULL, OPT_SINCE},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0}
};

/* usage_error reports a usage error and exits with status 2 */
static void
usage_error(const char *fmt,...)
			__attribute__((format(printf, 1, 2), noreturn));

static void
usage_error(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry \"%s --help\" for more information.\n", progname);
	exit(2);
}

/* parse_int parses a whole decimal integer in [min, max] or exits */
static int64_t
parse_int(const char *what, const char *s, int64_t min, int64_t max)
{
	char	   *end;
	long long	v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (s[0] == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
		usage_error("%s must be an integer from %" PRId64 " to %" PRId64
					", not \"%s\"", what, min, max, s);
	return (int64_t) v;
}

static uint64_t
parse_seed(const char *s)
{
	char	   *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0)
		usage_error("--seed must be an integer from 0 to 18446744073709551615, not \"%s\"",
					s);
	return (uint64_t) v;
}

static long
parse_timeout_ms(const char *s)
{
	char	   *end;
	double		v;

	errno = 0;
	v = strtod(s, &end);
	if (s[0] == '\0' || *end != '\0' || errno != 0 || !isfinite(v) ||
		v <= 0 || v > 86400)
		usage_error("--timeout must be a number of seconds above 0 and at most 86400, not \"%s\"",
					s);
	return (long) ceil(v * 1000);
}

static bool
has_control_chars(const char *s)
{
	for (; *s != '\0'; s++)
	{
		if ((unsigned char) *s < 0x20 || (unsigned char) *s == 0x7f)
			return true;
	}
	return false;
}

static void
on_signal(int signo)
{
	(void) signo;
	cl_interrupted = 1;
	/* a second signal ends the program the default way */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
}

static void
install_signal_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* no SA_RESTART: waits end early so the loop sees the flag */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* cmd_generate: "generate N" */
static int
cmd_generate(int64_t n, int64_t users, uint64_t seed, const GenTypes *types)
{
	if (gen_write(stdout, n, users, seed, types) != 0)
	{
		/* a reader that went away (generate | head) is not an error */
		if (errno == EPIPE)
			return 0;
		console_message("cannot write the events: %s", strerror(errno));
		return 1;
	}
	return 0;
}

/*
 * cmd_assign_ids: "assign-ids [FILE]": copy the input, adding eventIds.
 * Lines that are not events are copied unchanged (send rejects them) and
 * reported; they make the exit status 1.
 */
static int
cmd_assign_ids(const char *path)
{
	int			fd = STDIN_FILENO;
	const char *name = "standard input";
	LineReader	lr;
	json_tokener *tok;
	StrBuf		out;
	int64_t		bad = 0;
	int			code = 0;

	if (path != NULL && strcmp(path, "-") != 0)
	{
		fd = open(path, O_RDONLY | O_CLOEXEC);
		name = path;
		if (fd < 0)
		{
			console_message("cannot open %s: %s", path, strerror(errno));
			return 2;
		}
	}
	lr_init(&lr, JSONL_MAX_LINE);
	tok = jsonl_tokener_new();
	sb_init(&out);
	for (;;)
	{
		const char *line;
		size_t		len;
		char		reason[512];
		bool		added;
		LrResult	r = lr_next(&lr, &line, &len);

		if (r == LR_EOF)
			break;
		if (r == LR_NEED_MORE)
		{
			if (lr_read_fd(&lr, fd) < 0 && errno != EINTR && errno != EAGAIN)
			{
				console_message("cannot read %s: %s", name, strerror(errno));
				code = 1;
				break;
			}
			continue;
		}
		if (r == LR_TOO_LONG)
		{
			console_message("line %ld: line is longer than 16 MB; dropped",
							lr.lineno);
			bad++;
			continue;
		}
		switch (jsonl_prepare(tok, line, len, NULL, NULL, &out,
							  &added, reason, sizeof(reason)))
		{
			case PREP_OK:
				break;
			case PREP_BLANK:
				sb_reset(&out);
				sb_append(&out, line, len);
				break;
			case PREP_BAD:
				console_message("line %ld: %s; copied unchanged", lr.lineno,
								reason);
				bad++;
				sb_reset(&out);
				sb_append(&out, line, len);
				break;
			case PREP_NO_ID:
				console_message("%s", reason);
				code = 1;
				goto done;
		}
		sb_append_char(&out, '\n');
		if (fwrite(out.data, 1, out.len, stdout) != out.len)
			break;
	}
done:
	if (fflush(stdout) != 0 || ferror(stdout))
	{
		console_message("cannot write: %s", strerror(errno));
		code = 1;
	}
	if (bad > 0)
		code = 1;
	sb_free(&out);
	json_tokener_free(tok);
	lr_free(&lr);
	if (fd != STDIN_FILENO)
		close(fd);
	return code;
}

int
main(int argc, char **argv)
{
	ClientConfig cfg;
	const char *env;
	const char *command;
	unsigned int seen = 0;
	int64_t		users = DEFAULT_USERS;
	const char *users_arg = NULL;
	WatchOptions watch = {0};
	uint64_t	seed = DEFAULT_SEED;
	GenTypes	types = {0};
	bool		progress_on = false;
	bool		progress_off = false;
	int			nargs;
	int			c;
	int			code;

	console_init();
	memset(&cfg, 0, sizeof(cfg));
	env = getenv("EVPROC_URL");
	cfg.url = env != NULL && env[0] != '\0' ? env : CLIENT_DEFAULT_URL;
	env = getenv("EVPROC_TOKEN");
	cfg.token = env != NULL && env[0] != '\0' ? env : NULL;
	cfg.timeout_ms = DEFAULT_TIMEOUT_S * 1000L;
	cfg.max_retries = DEFAULT_MAX_RETRIES;
	cfg.batch_size = DEFAULT_BATCH_SIZE;
	cfg.concurrency = DEFAULT_CONCURRENCY;
	cfg.max_batch_bytes = DEFAULT_MAX_BATCH_BYTES;
	cfg.compress = true;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", long_options, NULL)) != -1)
	{
		if (c >= OPT_URL)
			seen |= SEEN(c);
		switch (c)
		{
			case 'h':
				fputs(usage_text, stdout);
				return 0;
			case OPT_VERSION:
				printf("evproc-client %s (%s)\n", CLIENT_VERSION,
					   curl_version());
				return 0;
			case OPT_URL:
				cfg.url = optarg;
				break;
			case OPT_TOKEN:
				cfg.token = optarg[0] != '\0' ? optarg : NULL;
				break;
			case OPT_TIMEOUT:
				cfg.timeout_ms = parse_timeout_ms(optarg);
				break;
			case OPT_MAX_RETRIES:
				cfg.max_retries = (int) parse_int("--max-retries", optarg, 0, 1000);
				break;
			case OPT_BATCH_SIZE:
				cfg.batch_size = (int) parse_int("--batch-size", optarg, 1,
												 MAX_BATCH_SIZE);
				break;
			case OPT_MAX_BATCH_BYTES:
				cfg.max_batch_bytes = (size_t) parse_int("--max-batch-bytes",
														 optarg, 1, INT32_MAX);
				break;
			case OPT_CONCURRENCY:
				cfg.concurrency = (int) parse_int("--concurrency", optarg, 1,
												  MAX_CONCURRENCY);
				break;
			case OPT_PROGRESS:
				progress_on = true;
				break;
			case OPT_NO_PROGRESS:
				progress_off = true;
				break;
			case OPT_NO_COMPRESS:
				cfg.compress = false;
				break;
			case OPT_USERS:
				/* a number for generate, a list for watch: see below */
				users_arg = optarg;
				break;
			case OPT_ALL:
				break;
			case OPT_SINCE:
				parse_int("--since", optarg, 0, INT64_MAX);
				watch.since = optarg;
				break;
			case OPT_SEED:
				seed = parse_seed(optarg);
				break;
			case OPT_TYPES:
				{
					char		err[256];

					gen_types_free(&types);
					if (!gen_types_parse(optarg, &types, err, sizeof(err)))
						usage_error("%s", err);
				}
				break;
			case ':':
				usage_error("option %s needs a value", argv[optind - 1]);
			default:
				if (optopt != 0 && optopt < OPT_URL)
					usage_error("unknown option -%c", optopt);
				usage_error("unknown or incomplete option \"%s\"",
							argv[optind - 1]);
		}
	}
	if (progress_on && progress_off)
		usage_error("--progress and --no-progress contradict each other");
	cfg.progress = progress_on || (!progress_off && console_is_tty());

	if (optind >= argc)
		usage_error("a command is required: send, revenue, watch, generate or assign-ids");
	command = argv[optind++];
	nargs = argc - optind;

	if (strcmp(command, "generate") == 0)
	{
		if (seen & ~(GENERATE_OPTS | SEEN(OPT_URL) | SEEN(OPT_TOKEN)))
			usage_error("generate takes only --users, --seed and --types");
		if (nargs != 1)
			usage_error("generate needs exactly one argument: the number of events");
		if (users_arg != NULL)
			users = parse_int("--users", users_arg, 1, INT64_MAX / 2);
		code = cmd_generate(parse_int("the number of events", argv[optind], 0,
									  INT64_MAX), users, seed, &types);
		gen_types_free(&types);
		return code;
	}
	if (strcmp(command, "assign-ids") == 0)
	{
		if (seen & ~(SEEN(OPT_URL) | SEEN(OPT_TOKEN)))
			usage_error("assign-ids takes no options");
		if (nargs > 1)
			usage_error("assign-ids takes at most one argument: the input file");
		return cmd_assign_ids(nargs == 1 ? argv[optind] : NULL);
	}
	if (strcmp(command, "help") == 0)
	{
		fputs(usage_text, stdout);
		return 0;
	}

	if (strcmp(command, "send") != 0 && strcmp(command, "revenue") != 0 &&
		strcmp(command, "watch") != 0)
		usage_error("unknown command \"%s\"", command);
	if (!url_base_valid(cfg.url))
		usage_error("the server URL must look like http://host:port, not \"%s\"",
					cfg.url);
	if (cfg.token != NULL && has_control_chars(cfg.token))
		usage_error("the token must not contain control characters");

	install_signal_handlers();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
	{
		console_message("cannot initialize libcurl");
		return 1;
	}
	if (strcmp(command, "watch") == 0)
	{
		if (seen & ~(WATCH_OPTS | SEEN(OPT_URL) | SEEN(OPT_TOKEN)))
			usage_error("watch takes only --url, --token, --timeout, --max-retries, --all, --users and --since");
		if (seen & SEEN(OPT_ALL))
		{
			if (nargs != 0)
				usage_error("watch --all takes no user id (use --users U1,U2,... to choose users)");
			watch.users = users_arg;
			if (users_arg != NULL)
			{
				StrBuf		enc;
				bool		ok;

				sb_init(&enc);
				ok = url_encode_list(users_arg, &enc);
				sb_free(&enc);
				if (!ok)
					usage_error("--users must be user ids separated by commas, none of them empty, not \"%s\"",
								users_arg);
			}
		}
		else
		{
			if (users_arg != NULL)
				usage_error("--users needs --all: watch --all --users U1,U2,...");
			if (nargs != 1)
				usage_error("watch needs exactly one argument, the user id, or --all");
			if (argv[optind][0] == '\0')
				usage_error("the user id must not be empty");
			watch.user = argv[optind];
		}
		if (!(seen & SEEN(OPT_MAX_RETRIES)))
			cfg.max_retries = -1;
		code = cmd_watch(&cfg, &watch);
	}
	else if (strcmp(command, "send") == 0)
	{
		if (seen & ~(SEND_OPTS | SEEN(OPT_URL) | SEEN(OPT_TOKEN)))
			usage_error("send takes only --url, --token, --timeout, --max-retries, --batch-size, --max-batch-bytes, --concurrency, --progress, --no-progress and --no-compress");
		if (nargs > 1)
			usage_error("send takes at most one argument: the input file");
		code = cmd_send(&cfg, nargs == 1 ? argv[optind] : NULL);
	}
	else
	{
		if (seen & ~(REVENUE_OPTS | SEEN(OPT_URL) | SEEN(OPT_TOKEN)))
			usage_error("revenue takes only --url, --token, --timeout and --max-retries");
		if (nargs != 1)
			usage_error("revenue needs exactly one argument: the user id");
		if (argv[optind][0] == '\0')
			usage_error("the user id must not be empty");
		code = cmd_revenue(&cfg, argv[optind]);
	}
	curl_global_cleanup();
	return code;
}
