/*-------------------------------------------------------------------------
 *
 * ref_server.c
 *	  The benchmark's reference ceiling: the least a durable event server
 *	  can do on this machine.  One libmicrohttpd loop in external epoll mode
 *	  (as evproc's worker), that appends each POST body as a line to a file
 *	  and answers 200 after a group-commit fdatasync per loop pass.  No
 *	  validation, no database.  Bench only; not part of the extension.
 *
 *	  ref_server PORT FILE [nofsync]
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>

typedef struct Req
{
	char	   *body;
	size_t		len;
	bool		suspended;
	bool		done;
} Req;

static char *batch;
static size_t batch_len;
static size_t batch_cap;
static struct MHD_Connection **pending;
static size_t npending;
static size_t pending_cap;
static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	stop = 1;
}

static void
append(const char *data, size_t len)
{
	if (batch_len + len + 1 > batch_cap)
	{
		batch_cap = (batch_len + len + 1) * 2;
		batch = realloc(batch, batch_cap);
	}
	memcpy(batch + batch_len, data, len);
	batch_len += len;
	batch[batch_len++] = '\n';
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *conn, const char *url,
		const char *method, const char *version, const char *data,
		size_t *size, void **ctx)
{
	Req		   *req = *ctx;

	if (req == NULL)
	{
		*ctx = calloc(1, sizeof(Req));
		return MHD_YES;
	}
	if (*size > 0)
	{
		req->body = realloc(req->body, req->len + *size);
		memcpy(req->body + req->len, data, *size);
		req->len += *size;
		*size = 0;
		return MHD_YES;
	}
	if (req->done)
	{
		static const char ok[] = "{\"accepted\": 1}";
		struct MHD_Response *r = MHD_create_response_from_buffer(sizeof(ok) - 1,
																 (void *) ok,
																 MHD_RESPMEM_PERSISTENT);
		enum MHD_Result ret;

		MHD_add_response_header(r, "Content-Type", "application/json");
		ret = MHD_queue_response(conn, 200, r);
		MHD_destroy_response(r);
		return ret;
	}
	append(req->body ? req->body : "", req->len);
	if (npending == pending_cap)
	{
		pending_cap = pending_cap ? pending_cap * 2 : 256;
		pending = realloc(pending, pending_cap * sizeof(*pending));
	}
	pending[npending++] = conn;
	req->done = true;
	MHD_suspend_connection(conn);
	return MHD_YES;
}

static void
completed(void *cls, struct MHD_Connection *c, void **ctx,
		  enum MHD_RequestTerminationCode toe)
{
	Req		   *req = *ctx;

	if (req)
	{
		free(req->body);
		free(req);
	}
}

int
main(int argc, char **argv)
{
	struct MHD_Daemon *d;
	int			fd;
	int			ep;
	bool		do_fsync;

	if (argc < 3)
	{
		fprintf(stderr, "usage: ref_server PORT FILE [nofsync]\n");
		return 2;
	}
	do_fsync = !(argc > 3 && strcmp(argv[3], "nofsync") == 0);
	fd = open(argv[2], O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0600);
	if (fd < 0)
	{
		perror("open");
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME,
						 (uint16_t) atoi(argv[1]), NULL, NULL, handler, NULL,
						 MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
						 MHD_OPTION_CONNECTION_LIMIT, 4096u,
						 MHD_OPTION_END);
	if (d == NULL)
	{
		fprintf(stderr, "ref_server: cannot listen on %s\n", argv[1]);
		return 1;
	}
	ep = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD)->epoll_fd;
	while (!stop)
	{
		MHD_UNSIGNED_LONG_LONG to;
		int			timeout = -1;
		struct pollfd pfd = {.fd = ep,.events = POLLIN};

		if (npending > 0)
			timeout = 0;
		else if (MHD_get_timeout(d, &to) == MHD_YES)
			timeout = to > 1000 ? 1000 : (int) to;
		else
			timeout = 1000;
		/* poll, not epoll_wait: that would consume MHD's own events */
		(void) poll(&pfd, 1, timeout);
		MHD_run(d);
		if (npending > 0)
		{
			size_t		done = 0;

			while (done < batch_len)
			{
				ssize_t		n = write(fd, batch + done, batch_len - done);

				if (n < 0 && errno == EINTR)
					continue;
				if (n <= 0)
				{
					perror("write");
					return 1;
				}
				done += (size_t) n;
			}
			if (do_fsync)
				fdatasync(fd);
			batch_len = 0;
			for (size_t i = 0; i < npending; i++)
				MHD_resume_connection(pending[i]);
			npending = 0;
			MHD_run(d);
		}
	}
	/* answer what is in flight before stopping */
	for (size_t i = 0; i < npending; i++)
		MHD_resume_connection(pending[i]);
	MHD_run(d);
	MHD_stop_daemon(d);
	close(fd);
	return 0;
}
