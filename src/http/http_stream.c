/*-------------------------------------------------------------------------
 *
 * http_stream.c
 *	  The HTTP side of a live-update stream request (GET /userEvents/
 *	  :userId/stream, GET /stream): its resume point and user list, and
 *	  its answer, the stream itself (stream.c) or an error.
 *
 * Runs inside libmicrohttpd's callbacks: malloc, no PostgreSQL calls.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core/clock.h"
#include "core/ws.h"
#include "http/http_client.h"
#include "http/http_stream.h"
#include "http/stream.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>

/* the most users GET /stream?users= may name */
#define STREAM_MAX_USERS	1000

/* header: a request header's value, or NULL */
static const char *
header(HttpRequest *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/*
 * parse_users reads the comma-separated, percent-encoded user ids of
 * ?users=: malloc'd in *users.  Returns NULL, or the problem.
 */
static const char *
parse_users(const char *list, char ***users, int *nusers)
{
	int			max = 1;
	const char *p;

	for (p = list; *p != '\0'; p++)
		if (*p == ',')
			max++;
	if (max > STREAM_MAX_USERS)
		return "users lists at most " CppAsString2(STREAM_MAX_USERS) " user ids";
	*users = calloc(max, sizeof(char *));
	if (*users == NULL)
		return "out of memory";
	for (p = list; *nusers < max; p++)
	{
		const char *end = strchr(p, ',');
		size_t		len = end != NULL ? (size_t) (end - p) : strlen(p);
		char		segment[EV_USER_ID_MAX * 3 + 2];
		char		user[EV_USER_ID_MAX + 1];
		size_t		ulen;
		const char *err;

		if (len >= sizeof(segment))
			return "userId must be at most " EV_STR(EV_USER_ID_MAX) " bytes";
		memcpy(segment, p, len);
		segment[len] = '\0';
		if ((err = ev_decode_user_id(segment, user, &ulen)) != NULL)
			return err;
		if (((*users)[(*nusers)++] = strdup(user)) == NULL)
			return "out of memory";
		if (end == NULL)
			break;
		p = end;
	}
	return NULL;
}

/*
 * admit_stream: may req's connection become a stream (http_slots.c: the
 * streams' share of the connections, the streams of its client)?  If not,
 * the refusal (429 or 503, with Retry-After) is decided, and the
 * connection closes after it: a refused client holds no slot.
 */
static bool
admit_stream(HttpRequest *req)
{
	char		client[INET6_ADDRSTRLEN + 4];
	const char *error;
	unsigned int status;

	status = slots_admit_stream(conn_hold(req->track),
								client_key(req->conn, client,
												sizeof(client)) ?
								client : NULL,
								&error, &req->retry_after);
	if (status == 0)
		return true;
	request_set_error(req, status, error);
	req->close = true;
	return false;
}

/*
 * http_stream_open answers a stream request: 200 and the stream of Server-Sent
 * Events, or, for a WebSocket upgrade (RFC 6455, checked by ws.c), 101 and
 * the stream over the switched connection (stream.c); or an error.  The client's resume point is its
 * Last-Event-ID, or ?since=N (WebSocket clients cannot set headers);
 * GET /stream?users=a,b watches those users only.
 */
enum MHD_Result
http_stream_open(HttpRequest *req)
{
	const char *id = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
												 "Last-Event-ID");
	const char *list = MHD_lookup_connection_value(req->conn,
												   MHD_GET_ARGUMENT_KIND,
												   "users");
	char	  **users = NULL;
	int			nusers = 0;
	uint64		since = 0;
	const char *upgrade = header(req, "Upgrade");
	const char *error = NULL;
	struct MHD_Response *response = NULL;
	enum MHD_Result ret;

	if (id == NULL)
		id = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND,
										 "since");
	if (id != NULL && id[0] != '\0')
	{
		char	   *end;

		/* digits only: strtoull alone takes " -1" (as 2^64 - 1) and "+1" */
		errno = 0;
		since = strtoull(id, &end, 10);
		if (errno != 0 || *end != '\0' || strspn(id, "0123456789") != strlen(id))
			error = "Last-Event-ID and since must be a sequence number";
	}
	if (error == NULL && req->all_users && list != NULL)
		error = parse_users(list, &users, &nusers);
	if (error != NULL)
		request_set_error(req, MHD_HTTP_BAD_REQUEST, error);
	else if (upgrade != NULL &&
			 (error = ws_check_request(upgrade, header(req, "Connection"),
									   header(req, "Sec-WebSocket-Version"),
									   header(req, "Sec-WebSocket-Key"))) != NULL)
		request_set_error(req, MHD_HTTP_BAD_REQUEST, error);
	else if (admit_stream(req))
	{
		if (upgrade != NULL)
			response = stream_open_ws(header(req, "Sec-WebSocket-Key"),
									  req->all_users ? NULL : req->user_id,
									  users, nusers, since, &error);
		else
			response = stream_open(req->conn, req->all_users ? NULL : req->user_id,
								   users, nusers, since, &error);
		if (response == NULL)
		{
			slots_release_stream(conn_hold(req->track));
			request_set_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, error);
			req->retry_after = 1;
		}
	}
	for (int i = 0; i < nusers; i++)
		free(users[i]);
	free(users);
	if (response == NULL)
		return request_send_reply(req);
	req->status = upgrade != NULL ? MHD_HTTP_SWITCHING_PROTOCOLS : MHD_HTTP_OK;
	prom_request(PR_STREAM, req->status,
					(double) (monotonic_us() - req->started_us) / 1e6);
	ret = MHD_queue_response(req->conn, req->status, response);
	MHD_destroy_response(response);
	return ret;
}
