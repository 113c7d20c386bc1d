/*-------------------------------------------------------------------------
 *
 * http_ready.c
 *	  The server's readiness and role as HTTP says them, for clients and
 *	  load balancers: GET /ready, which a load balancer may ask for a role
 *	  (?role=primary sends writes to the primary only), and the 503 that
 *	  answers a write on a hot standby.
 *
 * What the replies say is the worker's: the checks are pressure.c's, the
 * role is role.c's copy, read as the last pass of the loop left them.
 * Inside libmicrohttpd's callbacks: no PostgreSQL calls.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "http/http_ready.h"
#include "shared/pressure.h"
#include "shared/role.h"

/*
 * http_ready_reply decides GET /ready's reply: 200 if the server is ready
 * (pressure.c's checks), else 503, with each check in the body.
 * ?role=primary or ?role=standby also asks for that role, as Patroni's
 * /primary and /replica do: a server of the other role answers 503, ready
 * or not.  ?role=any (or no role) asks for readiness only.  The body says
 * the role either way; another role= is a 400.
 */
void
http_ready_reply(HttpRequest *req)
{
	char		body[1024];
	bool		ready;
	size_t		len;
	const char *want;

	want = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND,
									   "role");
	if (want != NULL && strcmp(want, "any") != 0 &&
		strcmp(want, "primary") != 0 && strcmp(want, "standby") != 0)
	{
		request_set_error(req, MHD_HTTP_BAD_REQUEST,
						  "role must be primary, standby or any");
		return;
	}
	len = pressure_ready_json(body, sizeof(body), &ready);
	if (want != NULL && strcmp(want, "any") != 0 &&
		strcmp(want, role_name()) != 0)
		ready = false;
	request_set_reply(req, ready ? MHD_HTTP_OK :
					  MHD_HTTP_SERVICE_UNAVAILABLE, body, len);
}

/*
 * http_refuse_on_standby answers a write on a hot standby, before its body
 * is read: 503, {"error": ..., "role": "standby"}, and Retry-After (a
 * promotion, or the load balancer's next check, is seconds away).  Nothing
 * is journaled.  True if it did; false on a primary.
 */
bool
http_refuse_on_standby(HttpRequest *req)
{
	static const char body[] =
		"{\"error\": \"this server is a hot standby (read-only): send events to the primary\", \"role\": \"standby\"}";

	if (!role_standby())
		return false;
	request_set_reply(req, MHD_HTTP_SERVICE_UNAVAILABLE, body,
					  sizeof(body) - 1);
	req->retry_after = ROLE_RETRY_AFTER_S;
	return true;
}
