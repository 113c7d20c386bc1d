/*-------------------------------------------------------------------------
 *
 * http_client.c
 *	  Who a connection's client is: its address, as the journal records
 *	  it, and the key that stands for it in the per-client limits.
 *
 * Runs inside libmicrohttpd's callbacks: no PostgreSQL calls.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core/event.h"
#include "http/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* client_address writes the peer's address (EV_ADDR_BUFSZ bytes). */
void
client_address(struct MHD_Connection *conn, char *out)
{
	const union MHD_ConnectionInfo *info;
	const struct sockaddr *sa;

	strcpy(out, "unknown");
	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (info == NULL || info->client_addr == NULL)
		return;
	sa = info->client_addr;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr,
				  out, EV_ADDR_BUFSZ);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr,
				  out, EV_ADDR_BUFSZ);
}

/*
 * client_key writes the key that stands for conn's client in the
 * per-client limits: its address, an IPv6 one by its /64 prefix (what one
 * host usually has to pick addresses from), an IPv4-mapped one as IPv4;
 * false if its address is not known.
 */
bool
client_key(struct MHD_Connection *conn, char *out, size_t outlen)
{
	const union MHD_ConnectionInfo *info;
	const struct sockaddr *sa;

	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (info == NULL || (sa = info->client_addr) == NULL)
		return false;
	if (sa->sa_family == AF_INET)
		return inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr,
						 out, outlen) != NULL;
	if (sa->sa_family == AF_INET6)
	{
		struct in6_addr a = ((const struct sockaddr_in6 *) sa)->sin6_addr;
		size_t		len;

		if (IN6_IS_ADDR_V4MAPPED(&a))
			return inet_ntop(AF_INET, &a.s6_addr[12], out, outlen) != NULL;
		memset(&a.s6_addr[8], 0, 8);
		if (inet_ntop(AF_INET6, &a, out, outlen) == NULL)
			return false;
		len = strlen(out);
		if (len + 4 > outlen)
			return false;
		memcpy(out + len, "/64", 4);
		return true;
	}
	return false;
}
