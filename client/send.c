/*-------------------------------------------------------------------------
 *
 * send.c
 *	  "evproc-client send": streams JSONL events to POST /liveEvent in
 *	  batches, several requests at a time (curl multi interface), with
 *	  retries, and prints the summary.
 *
 * One event loop, no threads.  Each pass reads input while there is room
 * (at most --concurrency batches in flight or waiting), starts the batches
 * that are due, and waits in curl_multi_poll for the network, the input
 * (a pipe that has nothing to read yet), the next retry time or the
 * progress tick.  Memory holds the batches in play and one input line,
 * never the whole input.
 *
 * Every event gets its eventId (jsonl.c) when it is read, before its first
 * send; a batch body never changes afterwards except by being split, so a
 * retry carries the same ids and the server counts each event at most
 * once.  A batch is all or nothing on the server:
 *
 *	200			all accepted (some maybe as duplicates): never sent again
 *	400, index	event [index] is rejected; the events before and after it
 *				are sent again as two batches (they were not kept)
 *	400			without an index: split in halves until the bad events
 *				stand alone (a single event refused is rejected)
 *	413			split in halves (and smaller batches from then on); a
 *				single event refused is rejected
 *	429, 5xx,	retried with exponential back-off and full jitter, at most
 *	transport	--max-retries times; then the batch is failed and the run
 *				stops (the server is down: the other batches would fail
 *				alike, only slower)
 *	401, 403,	the run stops: every further request would fail alike
 *	404, 405
 *	other 4xx	the batch is failed, the run goes on
 *
 * Bodies are sent with Content-Encoding: gzip (compressed once, when a
 * batch is first sent) unless --no-compress; the server's size limit is of
 * the inflated body, so a 413 still halves by the uncompressed size.
 *
 * Batches are acknowledged out of input order when --concurrency > 1;
 * revenue is a sum, so order does not matter.  A batch that is still
 * incomplete 0.5 s after its first event is sent anyway (slow input such
 * as "tail -f").
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backoff.h"
#include "client.h"
#include "console.h"
#include "eventid.h"
#include "gzip.h"
#include "jsonl.h"
#include "prng.h"
#include "reply.h"
#include "summary.h"
#include "urlenc.h"

/* an incomplete batch is sent this long after its first event */
#define LINGER_MS			500

/* progress reports at most this often */
#define PROGRESS_MS			1000

/* room for a reason or an error description */

/* a batch of events: one request body, NDJSON */
typedef struct Batch
{
	struct Batch *next;			/* in the queue */
	StrBuf		body;			/* the events, each with its "\n" */
	StrBuf		gz;				/* body compressed, once first sent */
	int			n;				/* number of events */
	int			cap;			/* room in off[] and line[] */
	size_t	   *off;			/* off[i]: where event i starts in body */
	long	   *line;			/* line[i]: input line of event i */
	int			attempts;		/* failed attempts so far */
	int64_t		not_before;		/* when it may be sent (monotonic ms) */
	bool		counted_sent;	/* already counted in Summary.sent */
	CURL	   *easy;			/* while in flight */
	StrBuf		reply;
	char		errbuf[CURL_ERROR_SIZE];
} Batch;

typedef struct Sender
{
	const ClientConfig *cfg;
	Summary    *sum;
	CURLM	   *multi;
	struct curl_slist *headers;
	char	   *post_url;

	/* input */
	int			fd;
	const char *input_name;
	LineReader	lr;
	json_tokener *tok;
	StrBuf		event;
	bool		input_done;

	/* batches */
	Batch	   *open;			/* being filled, or NULL */
	int64_t		open_since;
	Batch	   *queue;			/* waiting to be sent (due or backing off) */
	Batch	   *queue_tail;
	int			nqueued;
	Batch	  **inflight;		/* cfg->concurrency slots */
	int			ninflight;
	size_t		max_batch_bytes;	/* lowered after a 413 */
	size_t		noted_batch_bytes;	/* the limit last reported */
	bool		split_noted;

	bool		stopping;		/* no more input, no new requests */
	uint64_t	jitter;
	int64_t		started;
	int64_t		last_progress;
} Sender;

static void fail_batch(Sender *s, Batch *b, const char *reason);

static Batch *
batch_new(void)
{
	Batch	   *b = cl_malloc(sizeof(Batch));

	memset(b, 0, sizeof(Batch));
	sb_init(&b->body);
	sb_init(&b->gz);
	sb_init(&b->reply);
	return b;
}

static void
batch_free(Batch *b)
{
	if (b == NULL)
		return;
	sb_free(&b->body);
	sb_free(&b->gz);
	sb_free(&b->reply);
	free(b->off);
	free(b->line);
	free(b);
}

/* batch_add appends one event (without line end) from input line line */
static void
batch_add(Batch *b, const char *event, size_t len, long line)
{
	if (b->n == b->cap)
	{
		b->cap = b->cap > 0 ? b->cap * 2 : 64;
		b->off = cl_realloc(b->off, sizeof(size_t) * (size_t) b->cap);
		b->line = cl_realloc(b->line, sizeof(long) * (size_t) b->cap);
	}
	b->off[b->n] = b->body.len;
	b->line[b->n] = line;
	b->n++;
	sb_append(&b->body, event, len);
	sb_append_char(&b->body, '\n');
}

/* event_end: where event i of b ends (after its "\n") */
static size_t
event_end(const Batch *b, int i)
{
	return i + 1 < b->n ? b->off[i + 1] : b->body.len;
}

/* batch_slice makes a new batch of events [from, to) of b, same bytes */
static Batch *
batch_slice(const Batch *b, int from, int to)
{
	Batch	   *nb = batch_new();

	for (int i = from; i < to; i++)
	{
		size_t		start = b->off[i];

		/* without the "\n": batch_add puts it back */
		batch_add(nb, b->body.data + start, event_end(b, i) - start - 1,
				  b->line[i]);
	}
	nb->counted_sent = b->counted_sent;
	return nb;
}

static bool
has_room(const Sender *s)
{
	return s->ninflight + s->nqueued < s->cfg->concurrency;
}

/* enqueue puts b in the queue, to be sent at not_before or later */
static void
enqueue(Sender *s, Batch *b, int64_t not_before)
{
	if (s->stopping)
	{
		fail_batch(s, b, "not sent: the run was stopped");
		return;
	}
	b->not_before = not_before;
	b->next = NULL;
	if (s->queue_tail != NULL)
		s->queue_tail->next = b;
	else
		s->queue = b;
	s->queue_tail = b;
	s->nqueued++;
}

/* close_open queues the batch being filled */
static void
close_open(Sender *s, int64_t now)
{
	Batch	   *b = s->open;

	s->open = NULL;
	if (b == NULL)
		return;
	if (b->n == 0)
		batch_free(b);
	else
		enqueue(s, b, now);
}

static void
fail_batch(Sender *s, Batch *b, const char *reason)
{
	summary_fail(s->sum, b->line[0], b->line[b->n - 1], b->n, reason);
	batch_free(b);
}

/* describe_lines writes "line L" or "lines F-L" for the events of b */
static void
describe_lines(const Batch *b, char *out, size_t outlen)
{
	if (b->n == 1)
		snprintf(out, outlen, "line %ld", b->line[0]);
	else
		snprintf(out, outlen, "lines %ld-%ld", b->line[0], b->line[b->n - 1]);
}

/*
 * stop ends the run early: nothing more is read or sent; batches that are
 * waiting fail, batches in flight are still awaited (and not retried).
 */
static void
stop(Sender *s, const char *reason)
{
	if (s->stopping)
		return;
	console_message("stopping: %s", reason);
	summary_abort(s->sum, reason);
	if (!s->input_done)
		console_message("the input was not read past line %ld", s->lr.lineno);
	s->stopping = true;
	while (s->queue != NULL)
	{
		Batch	   *b = s->queue;

		s->queue = b->next;
		fail_batch(s, b, "not sent: the run was stopped");
	}
	s->queue_tail = NULL;
	s->nqueued = 0;
	if (s->open != NULL)
	{
		fail_batch(s, s->open, "not sent: the run was stopped");
		s->open = NULL;
	}
}

/* take_line handles one input line: reject it or add it to a batch */
static void
take_line(Sender *s, const char *line, size_t len, int64_t now)
{
	char		reason[REASON_BUFSZ];
	bool		id_added;
	long		lineno = s->lr.lineno;
	PrepResult	r;

	r = jsonl_prepare(s->tok, line, len, NULL, NULL, &s->event,
					  &id_added, reason, sizeof(reason));
	if (r == PREP_BLANK)
		return;
	s->sum->read++;
	if (r == PREP_BAD)
	{
		summary_reject(s->sum, lineno, reason);
		return;
	}
	if (r == PREP_NO_ID)
	{
		summary_fail(s->sum, lineno, lineno, 1, reason);
		stop(s, reason);
		return;
	}
	if (s->open == NULL)
	{
		s->open = batch_new();
		s->open_since = now;
	}
	batch_add(s->open, s->event.data, s->event.len, lineno);
	if (s->open->n >= s->cfg->batch_size ||
		s->open->body.len >= s->max_batch_bytes)
		close_open(s, now);
}

/* fd_readable: would a read(2) of fd return at once? */
static bool
fd_readable(int fd)
{
	struct pollfd pfd = {.fd = fd,.events = POLLIN};

	return poll(&pfd, 1, 0) > 0;
}

/*
 * read_input reads and batches input lines while there is room for more
 * batches and input can be read without waiting.
 */
static void
read_input(Sender *s, int64_t now)
{
	while (!s->input_done && !s->stopping && has_room(s))
	{
		const char *line;
		size_t		len;
		ssize_t		n;

		switch (lr_next(&s->lr, &line, &len))
		{
			case LR_LINE:
				take_line(s, line, len, now);
				break;
			case LR_TOO_LONG:
				s->sum->read++;
				summary_reject(s->sum, s->lr.lineno,
							   "line is longer than 16 MB");
				break;
			case LR_EOF:
				s->input_done = true;
				close_open(s, now);
				break;
			case LR_NEED_MORE:
				if (!fd_readable(s->fd))
					return;
				n = lr_read_fd(&s->lr, s->fd);
				if (n < 0 && (errno == EINTR || errno == EAGAIN))
					return;
				if (n < 0)
				{
					char		msg[REASON_BUFSZ];

					snprintf(msg, sizeof(msg), "cannot read %s after line %ld: %s",
							 s->input_name, s->lr.lineno, strerror(errno));
					console_message("%s", msg);
					summary_abort(s->sum, msg);
					/* send what was read */
					s->input_done = true;
					close_open(s, now);
				}
				break;
		}
	}
}

/* start_batch sends b */
static void
start_batch(Sender *s, Batch *b)
{
	CURLMcode	mrc;
	const StrBuf *send = &b->body;

	if (s->cfg->compress)
	{
		if (b->gz.len == 0 && !gzip_body(b->body.data, b->body.len, &b->gz))
		{
			console_message("cannot compress a request body (out of memory)");
			exit(1);
		}
		send = &b->gz;
	}
	sb_reset(&b->reply);
	b->easy = http_easy(s->cfg, s->post_url, s->headers, &b->reply, b->errbuf);
	curl_easy_setopt(b->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(b->easy, CURLOPT_POSTFIELDSIZE_LARGE,
					 (curl_off_t) send->len);
	curl_easy_setopt(b->easy, CURLOPT_POSTFIELDS, send->data);
	curl_easy_setopt(b->easy, CURLOPT_PRIVATE, (char *) b);
	mrc = curl_multi_add_handle(s->multi, b->easy);
	if (mrc != CURLM_OK)
	{
		console_message("cannot start a request: %s", curl_multi_strerror(mrc));
		exit(1);
	}
	s->inflight[s->ninflight++] = b;
	if (!b->counted_sent)
	{
		b->counted_sent = true;
		s->sum->sent += b->n;
	}
	s->sum->requests++;
}

/* start_due sends the queued batches that are due, while there is room */
static void
start_due(Sender *s, int64_t now)
{
	Batch	   *prev = NULL;
	Batch	   *b = s->queue;

	while (b != NULL && s->ninflight < s->cfg->concurrency)
	{
		Batch	   *next = b->next;

		if (b->not_before > now)
		{
			prev = b;
			b = next;
			continue;
		}
		if (prev != NULL)
			prev->next = next;
		else
			s->queue = next;
		if (s->queue_tail == b)
			s->queue_tail = prev;
		s->nqueued--;
		b->next = NULL;
		start_batch(s, b);
		b = next;
	}
}

/* end_transfer takes b's finished request out of the multi handle */
static void
end_transfer(Sender *s, Batch *b)
{
	curl_multi_remove_handle(s->multi, b->easy);
	curl_easy_cleanup(b->easy);
	b->easy = NULL;
	for (int i = 0; i < s->ninflight; i++)
	{
		if (s->inflight[i] == b)
		{
			s->inflight[i] = s->inflight[--s->ninflight];
			break;
		}
	}
}

/*
 * retry_or_fail schedules b again after a back-off, unless it has used up
 * its retries or the run is stopping.
 */
static void
retry_or_fail(Sender *s, Batch *b, const char *reason, int64_t retry_after_ms,
			  int64_t now)
{
	char		what[64];
	int64_t		delay;

	if (s->stopping)
	{
		fail_batch(s, b, reason);
		return;
	}
	if (b->attempts >= s->cfg->max_retries)
	{
		StrBuf		msg;

		sb_init(&msg);
		sb_printf(&msg, "%s (gave up after %d %s)", reason, b->attempts,
				  b->attempts == 1 ? "retry" : "retries");
		describe_lines(b, what, sizeof(what));
		console_message("%s: %s", what, msg.data);
		fail_batch(s, b, msg.data);
		/*
		 * The server has been failing for a while (tens of seconds with the
		 * defaults): going on would only fail every other batch as slowly.
		 */
		sb_reset(&msg);
		sb_printf(&msg, "%s: %s (gave up after %d %s)", what, reason,
				  s->cfg->max_retries,
				  s->cfg->max_retries == 1 ? "retry" : "retries");
		stop(s, msg.data);
		sb_free(&msg);
		return;
	}
	delay = backoff_retry_ms(b->attempts, retry_after_ms,
							 splitmix64(&s->jitter));
	b->attempts++;
	s->sum->retries++;
	describe_lines(b, what, sizeof(what));
	console_message("%s: %s; retry %d of %d in %.1f s", what, reason,
					b->attempts, s->cfg->max_retries, delay / 1000.0);
	enqueue(s, b, now + delay);
}

/* split_halves sends the two halves of b as batches of their own */
static void
split_halves(Sender *s, Batch *b, int64_t now)
{
	int			mid = b->n / 2;

	enqueue(s, batch_slice(b, 0, mid), now);
	enqueue(s, batch_slice(b, mid, b->n), now);
	batch_free(b);
}

/* bad_request handles a 400: reject the bad event, send the others again */
static void
bad_request(Sender *s, Batch *b, const char *error, int64_t now)
{
	long		idx;

	if (reply_error_index(b->reply.data, b->reply.len, &idx) && idx < b->n)
	{
		summary_reject(s->sum, b->line[idx],
					   reply_strip_event_prefix(error, idx));
		if (idx > 0)
			enqueue(s, batch_slice(b, 0, (int) idx), now);
		if (idx + 1 < b->n)
			enqueue(s, batch_slice(b, (int) idx + 1, b->n), now);
		batch_free(b);
		return;
	}
	if (b->n == 1)
	{
		summary_reject(s->sum, b->line[0], error);
		batch_free(b);
		return;
	}
	if (!s->split_noted)
	{
		char		what[64];

		describe_lines(b, what, sizeof(what));
		console_message("%s: the server refused the batch without naming an event (%s); "
						"splitting batches to find the bad events", what, error);
		s->split_noted = true;
	}
	split_halves(s, b, now);
}

/* too_large handles a 413: smaller batches, or a rejected event */
static void
too_large(Sender *s, Batch *b, const char *error, int64_t now)
{
	if (b->n == 1)
	{
		StrBuf		reason;

		sb_init(&reason);
		sb_printf(&reason, "event is too large for the server (HTTP 413: %s)",
				  error);
		summary_reject(s->sum, b->line[0], reason.data);
		sb_free(&reason);
		batch_free(b);
		return;
	}
	if (b->body.len / 2 < s->max_batch_bytes)
	{
		s->max_batch_bytes = b->body.len / 2 > 0 ? b->body.len / 2 : 1;
		/* say so once per halving, not for every batch in flight */
		if (s->noted_batch_bytes == 0 ||
			s->max_batch_bytes <= s->noted_batch_bytes / 2)
		{
			console_message("the server refused %zu bytes as too large (%s); "
							"batches are now at most %zu bytes",
							b->body.len, error, s->max_batch_bytes);
			s->noted_batch_bytes = s->max_batch_bytes;
		}
	}
	split_halves(s, b, now);
}

/* finish_batch handles the outcome of b's request */
static void
finish_batch(Sender *s, Batch *b, CURLcode rc, int64_t now)
{
	long		status;
	int64_t		retry_after_ms;
	char		error[REASON_BUFSZ];
	char		what[64];
	StrBuf		reason;
	ReplyAction action;

	http_reply_info(b->easy, &status, &retry_after_ms);
	end_transfer(s, b);
	sb_init(&reason);

	if (rc != CURLE_OK)
	{
		http_describe_error(rc, b->errbuf, s->post_url, s->cfg->timeout_ms,
							error, sizeof(error));
		if (curl_error_retryable(rc))
			retry_or_fail(s, b, error, 0, now);
		else
		{
			fail_batch(s, b, error);
			stop(s, error);
		}
		return;
	}

	/* the error text, from the reply's body: not needed for a 200 */
	action = reply_action(status);
	if (action != ACT_DONE)
		reply_error_text(b->reply.data, b->reply.len, error, sizeof(error));
	switch (action)
	{
		case ACT_DONE:
			{
				int64_t		accepted;
				int64_t		dups;

				describe_lines(b, what, sizeof(what));
				if (!reply_accepted(b->reply.data, b->reply.len, &accepted, &dups))
				{
					reply_error_text(b->reply.data, b->reply.len, error,
									 sizeof(error));
					console_message("%s: HTTP %ld with an unexpected reply (%s); "
									"counted as accepted", what, status, error);
				}
				else if (accepted != b->n && accepted != b->n - dups)
					console_message("%s: the server acknowledged %" PRId64
									" events of %d", what, accepted, b->n);
				summary_accept(s->sum, b->n, dups);
				batch_free(b);
			}
			break;
		case ACT_RETRY:
			sb_printf(&reason, "HTTP %ld: %s", status, error);
			retry_or_fail(s, b, reason.data, retry_after_ms, now);
			break;
		case ACT_BAD_REQUEST:
			bad_request(s, b, error, now);
			break;
		case ACT_TOO_LARGE:
			too_large(s, b, error, now);
			break;
		case ACT_FATAL:
			sb_printf(&reason, "HTTP %ld from %s: %s%s", status, s->post_url,
					  error,
					  status == 401 ? " (check --token or EVPROC_TOKEN)" :
					  status == 404 || status == 405 ?
					  " (check --url or EVPROC_URL)" : "");
			fail_batch(s, b, reason.data);
			stop(s, reason.data);
			break;
		case ACT_FAIL:
			sb_printf(&reason, "HTTP %ld: %s", status, error);
			describe_lines(b, what, sizeof(what));
			console_message("%s: %s", what, reason.data);
			fail_batch(s, b, reason.data);
			break;
	}
	sb_free(&reason);
}

/* interrupt stops the run at once, giving up on requests in flight */
static void
interrupt(Sender *s)
{
	stop(s, "interrupted");
	while (s->ninflight > 0)
	{
		Batch	   *b = s->inflight[0];

		end_transfer(s, b);
		fail_batch(s, b, "interrupted in flight: the server may or may not "
				   "have accepted these events");
	}
}

static void
report_progress(Sender *s, int64_t now, bool final)
{
	double		secs;

	if (!s->cfg->progress || (!final && now - s->last_progress < PROGRESS_MS))
		return;
	s->last_progress = now;
	secs = (now - s->started) / 1000.0;
	console_progress("read %" PRId64 ", accepted %" PRId64 ", rejected %" PRId64
					 ", failed %" PRId64 ", in flight %d, retries %" PRId64
					 ", %.0f events/s",
					 s->sum->read, s->sum->accepted, s->sum->rejected,
					 s->sum->failed, s->ninflight, s->sum->retries,
					 secs > 0 ? s->sum->accepted / secs : 0.0);
}

/* wait_timeout: how long the loop may wait for the network or input */
static long
wait_timeout(const Sender *s, int64_t now)
{
	int64_t		timeout = PROGRESS_MS;

	if (s->ninflight < s->cfg->concurrency)
	{
		for (const Batch *b = s->queue; b != NULL; b = b->next)
		{
			if (b->not_before - now < timeout)
				timeout = b->not_before - now;
		}
	}
	if (s->open != NULL && has_room(s) &&
		s->open_since + LINGER_MS - now < timeout)
		timeout = s->open_since + LINGER_MS - now;
	return timeout > 0 ? (long) timeout : 0;
}

static void
run(Sender *s)
{
	for (;;)
	{
		int64_t		now = now_ms();
		struct curl_waitfd extra;
		unsigned int nextra = 0;
		int			running;
		int			left;
		CURLMsg    *msg;

		if (cl_interrupted && !s->stopping)
			interrupt(s);
		read_input(s, now);
		if (s->open != NULL && has_room(s) && now - s->open_since >= LINGER_MS)
			close_open(s, now);
		start_due(s, now);
		if (s->ninflight == 0 && s->nqueued == 0 && s->open == NULL &&
			(s->input_done || s->stopping))
			break;

		if (!s->input_done && !s->stopping && has_room(s))
		{
			/* waiting for input to arrive */
			extra.fd = s->fd;
			extra.events = CURL_WAIT_POLLIN;
			extra.revents = 0;
			nextra = 1;
		}
		curl_multi_poll(s->multi, nextra > 0 ? &extra : NULL, nextra,
						(int) wait_timeout(s, now), NULL);
		curl_multi_perform(s->multi, &running);
		while ((msg = curl_multi_info_read(s->multi, &left)) != NULL)
		{
			char	   *priv = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
			finish_batch(s, (Batch *) priv, msg->data.result, now_ms());
		}
		report_progress(s, now_ms(), false);
	}
	if (s->cfg->progress && !console_is_tty())
		report_progress(s, now_ms(), true);
	console_clear();
}

/*
 * cmd_send sends the events of path ("-" or NULL: stdin), prints the
 * summary on stdout and returns the exit status.
 */
int
cmd_send(const ClientConfig *cfg, const char *path)
{
	Sender		s;
	Summary		summary;
	Summary    *sum = &summary;
	struct stat st;
	int			code;

	memset(&s, 0, sizeof(s));
	summary_init(sum);
	s.cfg = cfg;
	s.sum = sum;
	if (path == NULL || strcmp(path, "-") == 0)
	{
		s.fd = STDIN_FILENO;
		s.input_name = "standard input";
	}
	else
	{
		s.fd = open(path, O_RDONLY | O_CLOEXEC);
		s.input_name = path;
		if (s.fd < 0)
		{
			console_message("cannot open %s: %s", path, strerror(errno));
			return 2;
		}
	}
	if (fstat(s.fd, &st) == 0 && S_ISDIR(st.st_mode))
	{
		console_message("%s is a directory", s.input_name);
		if (s.fd != STDIN_FILENO)
			close(s.fd);
		return 2;
	}

	if (!random_bytes(&s.jitter, sizeof(s.jitter)))
		s.jitter = (uint64_t) now_ms() ^ (uint64_t) getpid();
	s.multi = curl_multi_init();
	if (s.multi == NULL)
	{
		console_message("cannot initialize libcurl");
		return 1;
	}
	s.headers = http_headers(cfg, "application/x-ndjson");
	if (cfg->compress &&
		(s.headers = curl_slist_append(s.headers,
									   "Content-Encoding: gzip")) == NULL)
	{
		console_message("out of memory");
		return 1;
	}
	s.post_url = url_endpoint(cfg->url, "/liveEvent");
	s.inflight = cl_malloc(sizeof(Batch *) * (size_t) cfg->concurrency);
	s.max_batch_bytes = cfg->max_batch_bytes;
	s.tok = jsonl_tokener_new();
	sb_init(&s.event);
	lr_init(&s.lr, JSONL_MAX_LINE);
	s.started = s.last_progress = now_ms();

	run(&s);

	if (s.fd != STDIN_FILENO)
		close(s.fd);
	lr_free(&s.lr);
	sb_free(&s.event);
	json_tokener_free(s.tok);
	free(s.inflight);
	free(s.post_url);
	curl_slist_free_all(s.headers);
	curl_multi_cleanup(s.multi);

	if (!summary_consistent(sum))
		console_message("internal error: the counts do not add up");
	summary_print(sum, stdout);
	fflush(stdout);
	code = summary_exit_code(sum);
	summary_free(sum);
	return code;
}
