/*-------------------------------------------------------------------------
 *
 * console.c
 *	  Messages and the progress line of evproc-client, on stderr.
 *
 * On a terminal the progress line is redrawn in place ("\r", erase to end
 * of line) and erased before any message, so messages never end up glued
 * to it; elsewhere (--progress into a file or pipe) each progress report
 * is a line of its own.
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "console.h"

static bool stderr_tty = false;
static bool progress_shown = false;

void
console_init(void)
{
	stderr_tty = isatty(STDERR_FILENO) == 1;
}

bool
console_is_tty(void)
{
	return stderr_tty;
}

/* console_clear erases the progress line, if one is on the screen */
void
console_clear(void)
{
	if (progress_shown)
	{
		fputs("\r\033[K", stderr);
		progress_shown = false;
	}
}

/* console_message writes "evproc-client: <message>" and a newline */
void
console_message(const char *fmt,...)
{
	va_list		ap;

	console_clear();
	fputs("evproc-client: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

/* console_progress shows a progress report */
void
console_progress(const char *fmt,...)
{
	va_list		ap;

	fputs(stderr_tty ? "\r" : "evproc-client: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (stderr_tty)
	{
		fputs("\033[K", stderr);
		progress_shown = true;
	}
	else
		fputc('\n', stderr);
	fflush(stderr);
}
