/*-------------------------------------------------------------------------
 *
 * subscribers.c
 *	  The benchmark's Server-Sent Events load: one process holding N
 *	  subscriber connections with epoll and non-blocking sockets.  Each
 *	  connection sends "GET PATH HTTP/1.1" with "Accept: text/event-stream",
 *	  reads the 200 headers, then parses the stream (chunked or not) just
 *	  enough to timestamp the first byte of each message and read its "id:".
 *	  Bench only; not part of the extension.
 *
 *	  subscribers [-p PORT] [-n N] [-c CONNECTING] [-m hold|latency]
 *				  [-t ROUND_TIMEOUT_S] [-a AUTHORIZATION] PATH
 *
 *	  PATH may hold one "%d", replaced by the connection's number (0..N-1),
 *	  e.g. /userEvents/idle%d/stream.  At most CONNECTING (default 256)
 *	  connections are being opened at a time, so that the server's listen
 *	  backlog does not overflow.
 *
 *	  Talks with the script on stdin/stdout, one line each:
 *	  - prints "ready OK FAILED" once every connection got its response
 *		headers (OK got a 200, FAILED did not; reasons go to stderr);
 *	  - hold mode: on "stop" (or end of stdin, SIGTERM, SIGINT) prints
 *		"held OPEN CLOSED MESSAGES PINGS" (connections still open, closed by
 *		the server, messages and pings received) and exits;
 *	  - latency mode: "go T [T2]" (T: the start point, seconds since the
 *		epoch with a fraction; "go" alone or SIGUSR1: now; T2: a second start
 *		point, whose figures follow "from2") starts a round.  A
 *		round waits until every open connection has received a message whose
 *		id is above the highest id seen before the round (messages that
 *		arrive before the "go" line count: they are timestamped as they come)
 *		or ROUND_TIMEOUT_S (default 10) passed, then prints
 *		"round R GOT N p50 P p99 Q max M [from2 p50 P p99 Q max M]" in ms
 *		from T (negative: the message arrived before T).  "stop" prints
 *		"summary ROUNDS GOT MISSED p50 P p99 Q max M last p50 L max X
 *		[from2 p50 P p99 Q max M last p50 L max X]":
 *		percentiles over every subscriber of every round, then over the
 *		rounds' last arrivals (a round that some subscriber missed counts
 *		as ROUND_TIMEOUT_S).
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef enum
{
	C_IDLE,						/* not opened yet */
	C_CONNECTING,
	C_HEADERS,
	C_STREAM,
	C_DONE						/* closed or failed */
} ConnState;

typedef enum
{
	K_SIZE,						/* reading a chunk-size line */
	K_DATA,						/* inside a chunk */
	K_CRLF,						/* the CRLF after a chunk's data */
	K_END						/* the last chunk came */
} ChunkState;

typedef struct Conn
{
	int			fd;
	int			idx;
	ConnState	state;
	bool		ok;				/* got a 200 */
	size_t		sent;			/* bytes of the request written */
	char	   *hdr;			/* response headers until complete */
	size_t		hdr_len;
	bool		chunked;
	ChunkState	kstate;
	uint64_t	kleft;			/* bytes left in the chunk */
	char		ksize[24];		/* chunk-size line so far */
	int			ksize_len;
	/* SSE parsing: the current line's start and the current message */
	char		field[8];		/* a line's first bytes: "id:" is enough */
	int			field_len;
	bool		line_comment;	/* the line starts with ':' */
	bool		line_empty;		/* no byte of the line seen yet */
	bool		line_is_id;
	uint64_t	line_id;
	bool		msg_started;
	double		msg_t;			/* first byte of the message */
	uint64_t	msg_id;
	bool		msg_has_id;
	bool		msg_has_data;
	/* per round */
	double		got_t;			/* 0: not yet */
	uint64_t	max_id;
	long		nmsgs;
} Conn;

static Conn *conns;
static int	nconns = 1000;
static int	max_connecting = 256;
static int	port = 8000;
static bool latency_mode;
static double round_timeout = 10;
static const char *path_fmt;
static const char *auth;
static int	epfd;

static int	next_idle;			/* next connection to open */
static int	nconnecting;		/* connecting or waiting for headers */
static int	nready;				/* got their headers (200 or not) */
static int	nok;
static int	nfailed;
static int	nopen;				/* open in C_STREAM */
static int	nclosed;			/* in C_STREAM, then closed */
static long total_msgs;
static long total_pings;
static bool ready_printed;

static uint64_t base_id;		/* highest id seen before this round */
static int	ngot;				/* connections that got this round's message */
static bool round_active;
static double round_t0;			/* the start point */
static double round_t2;			/* a second one, or 0 */
static double round_deadline;
static int	round_no;

/* latencies in ms from one start point */
typedef struct Series
{
	double	   *all;			/* every subscriber of every round */
	size_t		n;
	size_t		cap;
	double	   *last;			/* each round's last arrival */
	int			nlast;
} Series;

static Series from_go;
static Series from_t2;
static int	nmissed;

static volatile sig_atomic_t got_usr1;
static volatile sig_atomic_t got_term;

static double
now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
on_signal(int sig)
{
	if (sig == SIGUSR1)
		got_usr1 = 1;
	else
		got_term = 1;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

/* pct sorts v and returns its p-th percentile (nearest rank) */
static double
pct(double *v, size_t n, double p)
{
	size_t		k;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(double), cmp_double);
	k = (size_t) (p / 100.0 * n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

/* conn_close closes c's socket and counts it */
static void
conn_close(Conn *c, const char *why)
{
	if (c->state == C_DONE)
		return;
	if (c->state == C_CONNECTING || c->state == C_HEADERS)
	{
		nconnecting--;
		nready++;
		nfailed++;
		fprintf(stderr, "subscribers: connection %d: %s\n", c->idx, why);
	}
	else if (c->state == C_STREAM)
	{
		nopen--;
		nclosed++;
		if (!ready_printed || nclosed <= 3)
			fprintf(stderr, "subscribers: connection %d closed: %s\n", c->idx, why);
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->hdr);
	c->hdr = NULL;
	c->state = C_DONE;
}

/* conn_open starts connecting c */
static void
conn_open(Conn *c)
{
	struct sockaddr_in sa;
	struct epoll_event ev;
	int			one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	c->state = C_CONNECTING;
	nconnecting++;
	if (c->fd < 0)
	{
		conn_close(c, strerror(errno));
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(c->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 &&
		errno != EINPROGRESS)
	{
		conn_close(c, strerror(errno));
		return;
	}
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
	ev.data.ptr = c;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		conn_close(c, strerror(errno));
}

/* open_more opens connections while fewer than max_connecting are pending */
static void
open_more(void)
{
	while (next_idle < nconns && nconnecting < max_connecting)
		conn_open(&conns[next_idle++]);
}

/* request_for writes c's request into buf */
static int
request_for(Conn *c, char *buf, size_t size)
{
	char		path[1024];
	const char *pct_d = strstr(path_fmt, "%d");

	if (pct_d)
		snprintf(path, sizeof(path), "%.*s%d%s",
				 (int) (pct_d - path_fmt), path_fmt, c->idx, pct_d + 2);
	else
		snprintf(path, sizeof(path), "%s", path_fmt);
	return snprintf(buf, size,
					"GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
					"Accept: text/event-stream\r\nCache-Control: no-cache\r\n"
					"%s%s%s\r\n",
					path, port,
					auth ? "Authorization: " : "", auth ? auth : "",
					auth ? "\r\n" : "");
}

/* msg_done: c received a whole message (an event with data) */
static void
msg_done(Conn *c)
{
	c->nmsgs++;
	total_msgs++;
	if (c->msg_has_id && c->msg_id > c->max_id)
		c->max_id = c->msg_id;
	if (latency_mode && ready_printed && c->got_t == 0 &&
		(!c->msg_has_id || c->msg_id > base_id))
	{
		c->got_t = c->msg_t;
		ngot++;
	}
}

/* sse_byte feeds one byte of the event stream, which arrived at t */
static void
sse_byte(Conn *c, char ch, double t)
{
	if (ch == '\r')
		return;					/* lines end in \n here; \r alone is not used */
	if (ch == '\n')
	{
		if (c->line_empty)
		{
			/* an empty line ends the message */
			if (c->msg_has_data)
				msg_done(c);
			c->msg_started = false;
			c->msg_has_id = c->msg_has_data = false;
		}
		else if (c->line_comment)
		{
			if (c->field_len >= 5 && memcmp(c->field, ": pin", 5) == 0)
				total_pings++;
		}
		else
		{
			if (c->field_len >= 5 && memcmp(c->field, "data:", 5) == 0)
				c->msg_has_data = true;
			else if (c->line_is_id)
			{
				c->msg_has_id = true;
				c->msg_id = c->line_id;
			}
		}
		c->line_empty = true;
		c->field_len = 0;
		c->line_comment = c->line_is_id = false;
		c->line_id = 0;
		return;
	}
	if (c->line_empty)
	{
		c->line_empty = false;
		c->line_comment = (ch == ':');
		if (!c->line_comment && !c->msg_started)
		{
			c->msg_started = true;
			c->msg_t = t;
		}
	}
	if (c->line_is_id)
	{
		if (ch >= '0' && ch <= '9')
			c->line_id = c->line_id * 10 + (ch - '0');
	}
	else if (c->field_len < (int) sizeof(c->field))
	{
		c->field[c->field_len++] = ch;
		if (c->field_len == 3 && memcmp(c->field, "id:", 3) == 0)
			c->line_is_id = true;
	}
}

/* body feeds response body bytes (chunked or not) to the SSE parser */
static void
body(Conn *c, const char *p, size_t n, double t)
{
	size_t		i = 0;

	if (!c->chunked)
	{
		for (; i < n; i++)
			sse_byte(c, p[i], t);
		return;
	}
	while (i < n)
	{
		switch (c->kstate)
		{
			case K_SIZE:
				if (p[i] == '\n')
				{
					c->ksize[c->ksize_len] = '\0';
					c->kleft = strtoull(c->ksize, NULL, 16);
					c->ksize_len = 0;
					c->kstate = c->kleft ? K_DATA : K_END;
				}
				else if (c->ksize_len < (int) sizeof(c->ksize) - 1)
					c->ksize[c->ksize_len++] = p[i];
				i++;
				break;
			case K_DATA:
				{
					size_t		take = n - i;

					if (take > c->kleft)
						take = c->kleft;
					for (size_t j = 0; j < take; j++)
						sse_byte(c, p[i + j], t);
					i += take;
					c->kleft -= take;
					if (c->kleft == 0)
						c->kstate = K_CRLF;
				}
				break;
			case K_CRLF:
				if (p[i] == '\n')
					c->kstate = K_SIZE;
				i++;
				break;
			case K_END:
				return;
		}
	}
}

/* got_headers: c's response headers are complete in c->hdr (hlen bytes) */
static void
got_headers(Conn *c, size_t hlen)
{
	char	   *h = c->hdr;
	char	   *te;

	h[hlen] = '\0';
	nconnecting--;
	nready++;
	if (strncmp(h, "HTTP/1.1 200", 12) != 0 && strncmp(h, "HTTP/1.0 200", 12) != 0)
	{
		char	   *eol = strstr(h, "\r\n");

		if (eol)
			*eol = '\0';
		nfailed++;
		if (nfailed <= 3)
			fprintf(stderr, "subscribers: connection %d: %s\n", c->idx, h);
		close(c->fd);
		c->fd = -1;
		c->state = C_DONE;
		return;
	}
	for (te = h; *te; te++)
		*te = (*te >= 'A' && *te <= 'Z') ? *te + 32 : *te;
	te = strstr(h, "\ntransfer-encoding:");
	c->chunked = te && strstr(te, "chunked") && strstr(te, "chunked") < strstr(te + 1, "\n");
	c->ok = true;
	nok++;
	nopen++;
	c->state = C_STREAM;
	c->kstate = K_SIZE;
	c->line_empty = true;
}

/* conn_event handles readiness of c */
static void
conn_event(Conn *c, uint32_t events)
{
	char		buf[65536];

	if (c->state == C_CONNECTING)
	{
		int			err = 0;
		socklen_t	len = sizeof(err);
		char		req[1400];
		int			rlen;
		ssize_t		w;

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err)
		{
			conn_close(c, strerror(err ? err : errno));
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		rlen = request_for(c, req, sizeof(req));
		w = write(c->fd, req + c->sent, rlen - c->sent);
		if (w < 0)
		{
			if (errno != EAGAIN)
				conn_close(c, strerror(errno));
			return;
		}
		c->sent += w;
		if (c->sent < (size_t) rlen)
			return;
		{
			struct epoll_event ev;

			ev.events = EPOLLIN | EPOLLRDHUP;
			ev.data.ptr = c;
			epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
		}
		c->state = C_HEADERS;
		c->hdr = malloc(8192);
		c->hdr_len = 0;
		return;
	}
	for (;;)
	{
		ssize_t		r = read(c->fd, buf, sizeof(buf));
		double		t;

		if (r < 0)
		{
			if (errno == EAGAIN || errno == EINTR)
				return;
			conn_close(c, strerror(errno));
			return;
		}
		if (r == 0)
		{
			conn_close(c, c->state == C_HEADERS ? "closed before the headers" : "closed by the server");
			return;
		}
		t = now_real();
		if (c->state == C_HEADERS)
		{
			size_t		take = r;
			char	   *end;

			if (take > 8191 - c->hdr_len)
				take = 8191 - c->hdr_len;
			memcpy(c->hdr + c->hdr_len, buf, take);
			c->hdr_len += take;
			c->hdr[c->hdr_len] = '\0';
			end = strstr(c->hdr, "\r\n\r\n");
			if (!end)
			{
				if (c->hdr_len >= 8191)
					conn_close(c, "headers too long");
				continue;
			}
			{
				size_t		hlen = end + 4 - c->hdr;
				size_t		rest = c->hdr_len - hlen;
				char		restbuf[8192];

				memcpy(restbuf, c->hdr + hlen, rest);
				got_headers(c, hlen);
				free(c->hdr);
				c->hdr = NULL;
				if (c->state != C_STREAM)
					return;
				body(c, restbuf, rest, t);
				if (take < (size_t) r)
					body(c, buf + take, r - take, t);
			}
		}
		else if (c->state == C_STREAM)
			body(c, buf, r, t);
		else
			return;
	}
}

/* round_start: the start point is t */
static void
round_start(double t, double t2)
{
	if (!latency_mode || round_active)
		return;
	round_active = true;
	round_no++;
	round_t0 = t;
	round_t2 = t2;
	round_deadline = now_real() + round_timeout;
}

/*
 * series_add adds a round's n latencies (ms, sorted) to s, mx being the
 * round's last arrival, and prints the round's percentiles after label
 */
static void
series_add(Series *s, const double *lat, int n, double mx, const char *label)
{
	if (s->n + n > s->cap)
	{
		s->cap = (s->n + n) * 2;
		s->all = realloc(s->all, sizeof(double) * s->cap);
	}
	memcpy(s->all + s->n, lat, sizeof(double) * n);
	s->n += n;
	s->last = realloc(s->last, sizeof(double) * (s->nlast + 1));
	s->last[s->nlast++] = mx;
	printf("%s p50 %.2f p99 %.2f max %.2f", label,
		   n ? lat[(size_t) (0.5 * n + 0.999999) - 1] : 0,
		   n ? lat[(size_t) (0.99 * n + 0.999999) - 1] : 0, mx);
}

/* series_print prints s's percentiles over all, then over the last arrivals */
static void
series_print(Series *s, const char *label)
{
	double		p50 = pct(s->all, s->n, 50),
				p99 = pct(s->all, s->n, 99),
				mx = s->n ? s->all[s->n - 1] : 0,
				l50 = pct(s->last, s->nlast, 50),
				lmx = s->nlast ? s->last[s->nlast - 1] : 0;

	printf("%s p50 %.2f p99 %.2f max %.2f last p50 %.2f max %.2f", label,
		   p50, p99, mx, l50, lmx);
}

/* round_check ends the round if every open connection has the message */
static void
round_check(bool force)
{
	double	   *lat;
	int			n = 0;
	double		mx;
	double		shift = (round_t0 - round_t2) * 1000.0;

	if (!round_active)
		return;
	if (!force && ngot < nopen && now_real() < round_deadline)
		return;
	lat = malloc(sizeof(double) * (nconns + 1));
	for (int i = 0; i < nconns; i++)
	{
		Conn	   *c = &conns[i];

		if (c->ok && c->got_t != 0)
			lat[n++] = (c->got_t - round_t0) * 1000.0;
		else if (c->ok)
			nmissed++;
		if (c->max_id > base_id)
			base_id = c->max_id;
		c->got_t = 0;
	}
	pct(lat, n, 50);			/* sorts */
	mx = n ? lat[n - 1] : 0;
	if (n < nopen + nclosed)
		mx = round_timeout * 1000.0;	/* someone missed it: at least this */
	printf("round %d %d %d", round_no, n, nconns);
	series_add(&from_go, lat, n, mx, "");
	if (round_t2 > 0)
	{
		/* the same arrivals from the second start point */
		for (int i = 0; i < n; i++)
			lat[i] += shift;
		series_add(&from_t2, lat, n, mx + shift, " from2");
	}
	printf("\n");
	free(lat);
	ngot = 0;
	round_active = false;
}

/* finish prints the closing line and exits */
static void
finish(void)
{
	if (latency_mode)
	{
		round_check(true);
		printf("summary %d %zu %d", round_no, from_go.n, nmissed);
		series_print(&from_go, "");
		if (from_t2.nlast > 0)
			series_print(&from_t2, " from2");
		printf("\n");
	}
	else
		printf("held %d %d %ld %ld\n", nopen, nclosed, total_msgs, total_pings);
	fflush(stdout);
	exit(0);
}

/* stdin_line handles one command line from the script */
static void
stdin_line(char *line)
{
	if (strncmp(line, "go", 2) == 0)
	{
		char	   *end;
		double		t = strtod(line + 2, &end);
		double		t2 = strtod(end, NULL);

		round_start(t > 0 ? t : now_real(), t2);
	}
	else if (strncmp(line, "stop", 4) == 0)
		finish();
}

int
main(int argc, char **argv)
{
	int			opt;
	char		inbuf[4096];
	size_t		inlen = 0;
	struct sigaction sa;
	struct epoll_event ev;
	struct epoll_event *evs;
	double		ready_deadline;

	while ((opt = getopt(argc, argv, "p:n:c:m:t:a:")) != -1)
	{
		switch (opt)
		{
			case 'p':
				port = atoi(optarg);
				break;
			case 'n':
				nconns = atoi(optarg);
				break;
			case 'c':
				max_connecting = atoi(optarg);
				break;
			case 'm':
				if (strcmp(optarg, "latency") == 0)
					latency_mode = true;
				else if (strcmp(optarg, "hold") != 0)
				{
					fprintf(stderr, "subscribers: -m hold or -m latency\n");
					return 2;
				}
				break;
			case 't':
				round_timeout = atof(optarg);
				break;
			case 'a':
				auth = optarg;
				break;
			default:
				goto usage;
		}
	}
	if (optind != argc - 1 || nconns < 1 || max_connecting < 1)
		goto usage;
	path_fmt = argv[optind];
	setvbuf(stdout, NULL, _IOLBF, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	conns = calloc(nconns, sizeof(Conn));
	evs = calloc(1024, sizeof(struct epoll_event));
	for (int i = 0; i < nconns; i++)
	{
		conns[i].fd = -1;
		conns[i].idx = i;
	}
	epfd = epoll_create1(EPOLL_CLOEXEC);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	/* stdin a file or /dev/null: signals only */
	(void) epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &ev);

	ready_deadline = now_real() + 60;
	open_more();
	for (;;)
	{
		int			n = epoll_wait(epfd, evs, 1024, 50);

		if (n < 0 && errno != EINTR)
		{
			perror("subscribers: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++)
		{
			if (evs[i].data.ptr == NULL)
			{
				ssize_t		r = read(0, inbuf + inlen, sizeof(inbuf) - 1 - inlen);
				char	   *nl;

				if (r <= 0)
				{
					epoll_ctl(epfd, EPOLL_CTL_DEL, 0, NULL);
					if (ready_printed)
						finish();
					/* stdin closed early: stop once ready */
					got_term = 1;
					continue;
				}
				inlen += r;
				inbuf[inlen] = '\0';
				while ((nl = strchr(inbuf, '\n')) != NULL)
				{
					*nl = '\0';
					if (ready_printed)
						stdin_line(inbuf);
					memmove(inbuf, nl + 1, inlen - (nl + 1 - inbuf) + 1);
					inlen -= nl + 1 - inbuf;
				}
				if (inlen >= sizeof(inbuf) - 1)
					inlen = 0;
				continue;
			}
			conn_event(evs[i].data.ptr, evs[i].events);
		}
		open_more();
		if (!ready_printed && (nready == nconns || now_real() > ready_deadline))
		{
			for (int i = 0; i < nconns; i++)
			{
				Conn	   *c = &conns[i];

				if (c->state == C_CONNECTING || c->state == C_HEADERS || c->state == C_IDLE)
				{
					if (c->state == C_IDLE)
						nconnecting++;
					conn_close(c, "no response headers within 60 s");
				}
			}
			for (int i = 0; i < nconns; i++)
				if (conns[i].max_id > base_id)
					base_id = conns[i].max_id;
			ready_printed = true;
			printf("ready %d %d\n", nok, nfailed);
		}
		if (ready_printed)
		{
			if (got_usr1)
			{
				got_usr1 = 0;
				round_start(now_real(), 0);
			}
			round_check(false);
			if (got_term)
				finish();
		}
	}
usage:
	fprintf(stderr, "usage: subscribers [-p PORT] [-n N] [-c CONNECTING] [-m hold|latency] [-t ROUND_TIMEOUT_S] [-a AUTHORIZATION] PATH\n");
	return 2;
}
