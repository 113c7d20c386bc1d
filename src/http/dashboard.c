/*-------------------------------------------------------------------------
 *
 * dashboard.c
 *	  GET /dashboard: one self-contained HTML page (src/dashboard.html,
 *	  turned into a C string at build time by scripts/html2c.sh) that
 *	  polls /metrics and /topUsers and listens to /stream from the same
 *	  origin.  This file owns the page's bytes and its one reply, built
 *	  once: the page, text/html, never cached without asking again, and a
 *	  Content-Security-Policy that lets in only the page's own inline
 *	  script and style and requests to its own origin.
 *
 * Runs inside libmicrohttpd's callbacks: malloc, no PostgreSQL calls.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "http/dashboard.h"
#include "http/dashboard_html.h"

static struct MHD_Response *page = NULL;

/* dashboard_reply decides the reply to GET /dashboard: the page. */
void
dashboard_reply(HttpRequest *req)
{
	if (page == NULL)
	{
		page = MHD_create_response_from_buffer(sizeof(dashboard_html) - 1,
											   (void *) dashboard_html,
											   MHD_RESPMEM_PERSISTENT);
		if (page == NULL ||
			MHD_add_response_header(page, MHD_HTTP_HEADER_CONTENT_TYPE,
									"text/html; charset=utf-8") != MHD_YES ||
			MHD_add_response_header(page, MHD_HTTP_HEADER_CACHE_CONTROL,
									"no-cache") != MHD_YES ||
			MHD_add_response_header(page, "Content-Security-Policy",
									dashboard_csp) != MHD_YES ||
			MHD_add_response_header(page, "X-Content-Type-Options",
									"nosniff") != MHD_YES ||
			MHD_add_response_header(page, "Referrer-Policy",
									"no-referrer") != MHD_YES)
		{
			dashboard_stop();
			request_set_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
			return;
		}
	}
	req->canned = page;
	req->reply_len = sizeof(dashboard_html) - 1;
	req->status = MHD_HTTP_OK;
}

/* dashboard_stop frees the reply, at shutdown. */
void
dashboard_stop(void)
{
	if (page != NULL)
		MHD_destroy_response(page);
	page = NULL;
}
