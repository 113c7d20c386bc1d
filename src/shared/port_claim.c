/*-------------------------------------------------------------------------
 *
 * port_claim.c
 *	  Whether a worker may take the HTTP port: never one held by a process
 *	  that is not a worker of this server.
 *
 * With evproc.workers > 1 the workers bind the port with SO_REUSEPORT, so
 * that they share it.  Linux lets any socket of the same user with
 * SO_REUSEPORT join such a port: a second PostgreSQL server of the same
 * user, with evproc on the same port, would silently share it, and each
 * connection would go to either server at random.
 *
 * So before libmicrohttpd binds, the worker binds a probe socket to the
 * address without SO_REUSEPORT (with SO_REUSEADDR, as libmicrohttpd's own
 * socket, so that connections in TIME_WAIT do not count, nor does the
 * probe ever stand in a sibling's way: a bound socket that does not listen
 * blocks no other SO_REUSEADDR socket).  If the port is free, the probe is
 * closed and libmicrohttpd binds.  If it is in use, the worker joins only
 * if another worker of this server holds it (status.c: each worker
 * publishes the port it listens on once it does; one still starting is
 * waited for, briefly).  Otherwise the worker stops with an ERROR that
 * says so, and the postmaster starts it again after bgw_restart_time.
 *
 * Two servers that start at the very same moment on a free port can still
 * both pass the probe; a server started later never joins.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "shared/port_claim.h"
#include "shared/settings.h"
#include "shared/status.h"

#include "miscadmin.h"

#include <errno.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

/* how long a sibling that is starting is waited for to publish its port */
#define SIBLING_WAIT_MS		3000
#define SIBLING_POLL_MS		50

/*
 * probe_bind binds a socket of ai's address without SO_REUSEPORT and
 * closes it again.  Returns 0 if the port was free, else the errno.
 */
static int
probe_bind(const struct addrinfo *ai)
{
	int			fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
							ai->ai_protocol);
	int			one = 1;
	int			err = 0;

	if (fd < 0)
		return errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
		bind(fd, ai->ai_addr, ai->ai_addrlen) != 0)
		err = errno;
	close(fd);
	return err;
}

/*
 * port_claim checks, before the HTTP server starts, that evproc.port on
 * evproc.listen_address is free or held by another worker of this server;
 * if it is held by anything else, ERROR.  An address it cannot parse, or
 * a failure other than "in use", is left to the HTTP server's start,
 * which reports it.
 */
void
port_claim(void)
{
	struct addrinfo hints;
	struct addrinfo *ai = NULL;
	char		service[16];
	const char *host = evproc_listen_address;
	int			waited = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	if (strcmp(host, "*") == 0)
	{
		/* as http_start: IPv4, any address */
		hints.ai_family = AF_INET;
		host = NULL;
	}
	snprintf(service, sizeof(service), "%d", evproc_port);
	if (getaddrinfo(host, service, &hints, &ai) != 0 || ai == NULL)
		return;

	for (;;)
	{
		int			starting = 0;

		if (probe_bind(ai) != EADDRINUSE ||
			status_siblings_listening(evproc_port, &starting) > 0)
			break;
		if (starting == 0 || waited >= SIBLING_WAIT_MS)
		{
			freeaddrinfo(ai);
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("evproc: HTTP port %d is in use by another process",
							evproc_port),
					 errdetail("No other evproc worker of this server listens on %s:%d. evproc does not share its port with another program or another server (requests would go to either at random).",
							   evproc_listen_address, evproc_port),
					 errhint("Stop the other process, or set evproc.port to another port. The worker tries again every 5 seconds.")));
		}
		/* a sibling has bound the port but not said so yet: wait */
		pg_usleep(SIBLING_POLL_MS * 1000L);
		waited += SIBLING_POLL_MS;
		CHECK_FOR_INTERRUPTS();
	}
	freeaddrinfo(ai);
}
