/*-------------------------------------------------------------------------
 *
 * http_cors.c
 *	  Requests that a browser sends on behalf of a page of another origin
 *	  (cross-origin), and OPTIONS: this file decides which are refused,
 *	  which are let in because evproc.allowed_origins lists their origin
 *	  (their replies then carry Access-Control-Allow-Origin: see
 *	  add_cors_headers in http_request.c), and answers OPTIONS, CORS
 *	  preflights included.
 *
 * A browser sends a "simple" cross-origin request (a GET, or a POST with
 * Content-Type text/plain) without asking first: CORS only keeps the
 * reply from the page.  So a page that anyone on the network opens could
 * post events to an evproc without tokens that the browser can reach.
 * The rule:
 *	  - a request a browser marks as coming from another origin, from an
 *		origin not in evproc.allowed_origins, is refused with 403 if it is
 *		a write (any method but GET, HEAD and OPTIONS) or carries a token
 *		(an Authorization header), and so is its preflight;
 *	  - its GETs and HEADs without a token are answered as for anyone (what
 *		a client without a token may read is public; a link to /dashboard
 *		from another site keeps working), without
 *		Access-Control-Allow-Origin, so the browser keeps their replies
 *		from the page (streams carry "*": a page of any origin may follow
 *		public data, see stream.c);
 *	  - an allowed origin's requests and preflights are answered, with
 *		Access-Control-Allow-Origin: <origin> and Vary: Origin.
 * Clients that are not browsers (curl, evproc-client, servers) send no
 * Origin and are not affected.
 *
 * Another origin: Sec-Fetch-Site, which browsers set and pages cannot, is
 * "same-site" or "cross-site" ("same-origin" and "none", a typed URL, are
 * ours); without it (older browsers), an Origin header whose host and
 * port differ from the Host header the browser sent (the scheme is not
 * compared: behind a proxy that ends TLS, the page is https:// and evproc
 * plain).  Origin "null" (a file:// page, a sandboxed frame) is never
 * allowed, except by "*".
 *
 * Runs inside libmicrohttpd's callbacks: no PostgreSQL calls.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "http/http_cors.h"
#include "shared/settings.h"

#define HEADER_ORIGIN		"Origin"
#define HEADER_FETCH_SITE	"Sec-Fetch-Site"
#define HEADER_REQUEST_METHOD "Access-Control-Request-Method"

static const char *
header(HttpRequest *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/* cors_method_known: is method one evproc serves on some route? */
bool
cors_method_known(const char *method)
{
	return strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
		strcmp(method, MHD_HTTP_METHOD_HEAD) == 0 ||
		strcmp(method, MHD_HTTP_METHOD_POST) == 0 ||
		strcmp(method, MHD_HTTP_METHOD_OPTIONS) == 0;
}

/* same_origin: does the browser say (or show) that req comes from us? */
static bool
same_origin(HttpRequest *req, const char *origin)
{
	const char *site = header(req, HEADER_FETCH_SITE);
	const char *host;
	const char *authority;

	if (site != NULL)
		return strcasecmp(site, "same-origin") == 0 ||
			strcasecmp(site, "none") == 0;
	if (origin == NULL)
		return true;			/* not a browser's cross-origin request */
	host = header(req, MHD_HTTP_HEADER_HOST);
	authority = strstr(origin, "://");
	return host != NULL && authority != NULL &&
		strcasecmp(authority + 3, host) == 0;
}

/*
 * origin_allowed: is origin in evproc.allowed_origins (a comma-separated
 * list of origins, or "*")?  Compared whole, case-insensitively.
 */
static bool
origin_allowed(const char *origin)
{
	const char *cursor = evproc_allowed_origins;
	const char *p;
	size_t		len;
	size_t		olen = strlen(origin);

	while ((p = settings_list_next(&cursor, &len)) != NULL)
	{
		if ((len == 1 && p[0] == '*') ||
			(len == olen && strncasecmp(p, origin, len) == 0 &&
			 strcmp(origin, "null") != 0))
			return true;
	}
	return false;
}

/*
 * set_refused answers 403: req comes from another origin, which
 * evproc.allowed_origins does not list.
 */
static void
set_refused(HttpRequest *req, const char *origin)
{
	char		message[EV_ERROR_BUFSZ];

	snprintf(message, sizeof(message),
			 "cross-origin request from %.100s refused: its origin is not in evproc.allowed_origins",
			 origin != NULL ? origin : "another site");
	request_set_error(req, MHD_HTTP_FORBIDDEN, message);
}

/* with_options: a route's Allow (see admit in http.c), OPTIONS added */
static const char *
with_options(const char *allow)
{
	if (strcmp(allow, MHD_HTTP_METHOD_POST) == 0)
		return "POST, OPTIONS";
	if (strcmp(allow, MHD_HTTP_METHOD_GET) == 0)
		return "GET, OPTIONS";
	return "GET, HEAD, OPTIONS";
}

/*
 * cors_admit looks at where a request to a route that takes allow comes
 * from (see the rule above), and answers OPTIONS: a preflight from our own
 * or an allowed origin 204 with what the route takes, from another 403;
 * any other OPTIONS 204 with Allow.  Returns false with the reply decided
 * (an answer to OPTIONS, or a refusal); true to go on (then, if the
 * request is an allowed origin's, req->cors_origin is set, for the reply's
 * headers).
 */
bool
cors_admit(HttpRequest *req, const char *method, const char *allow)
{
	const char *origin = header(req, HEADER_ORIGIN);
	bool		ours = same_origin(req, origin);
	bool		allowed = !ours && origin != NULL && origin_allowed(origin);
	bool		foreign = !ours && !allowed;

	if (allowed)
		req->cors_origin = origin;
	if (strcmp(method, MHD_HTTP_METHOD_OPTIONS) == 0)
	{
		req->preflight = origin != NULL &&
			header(req, HEADER_REQUEST_METHOD) != NULL;
		if (req->preflight && foreign)
		{
			set_refused(req, origin);
			return false;
		}
		if (req->preflight)
		{
			req->cors_origin = origin;
			req->allow = allow;
		}
		else
			req->allow = with_options(allow);
		request_set_reply(req, MHD_HTTP_NO_CONTENT, "", 0);
		return false;
	}
	if (foreign &&
		((strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
		  strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) ||
		 header(req, MHD_HTTP_HEADER_AUTHORIZATION) != NULL))
	{
		set_refused(req, origin);
		return false;
	}
	return true;
}
