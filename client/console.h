/*-------------------------------------------------------------------------
 *
 * console.h
 *	  Messages and the progress line of evproc-client, on stderr.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_CLIENT_CONSOLE_H
#define EVPROC_CLIENT_CONSOLE_H

#include <stdbool.h>

extern void console_init(void);
extern bool console_is_tty(void);
extern void console_message(const char *fmt,...)
			__attribute__((format(printf, 1, 2)));
extern void console_progress(const char *fmt,...)
			__attribute__((format(printf, 1, 2)));
extern void console_clear(void);

#endif							/* EVPROC_CLIENT_CONSOLE_H */
