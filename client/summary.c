/*-------------------------------------------------------------------------
 *
 * summary.c
 *	  The counters of a "send" run and the summary printed on stdout at its
 *	  end, with the first reasons for rejected events and failures, and
 *	  the exit status: 0 only if every event read was accepted (duplicates
 *	  count as accepted), 1 otherwise.
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "summary.h"

void
summary_init(Summary *s)
{
	memset(s, 0, sizeof(*s));
}

void
summary_free(Summary *s)
{
	for (int i = 0; i < s->nreject_reasons; i++)
		free(s->reject_reasons[i]);
	for (int i = 0; i < s->nfail_reasons; i++)
		free(s->fail_reasons[i]);
	free(s->aborted);
	summary_init(s);
}

/* summary_reject counts one rejected event, from input line line */
void
summary_reject(Summary *s, long line, const char *reason)
{
	s->rejected++;
	if (s->nreject_reasons < SUMMARY_MAX_REASONS)
	{
		StrBuf		sb;

		sb_init(&sb);
		sb_printf(&sb, "line %ld: %s", line, reason);
		s->reject_lines[s->nreject_reasons] = line;
		s->reject_reasons[s->nreject_reasons++] = sb.data;
	}
}

/* summary_fail counts count events, from lines first..last, as failed */
void
summary_fail(Summary *s, long first_line, long last_line, int64_t count,
			 const char *reason)
{
	StrBuf		sb;

	if (count <= 0)
		return;
	s->failed += count;
	s->fail_reasons_seen++;
	if (s->nfail_reasons >= SUMMARY_MAX_REASONS)
		return;
	sb_init(&sb);
	if (first_line == last_line)
		sb_printf(&sb, "line %ld", first_line);
	else
		sb_printf(&sb, "lines %ld-%ld", first_line, last_line);
	sb_printf(&sb, " (%" PRId64 " event%s): %s", count,
			  count == 1 ? "" : "s", reason);
	s->fail_reasons[s->nfail_reasons++] = sb.data;
}

/* summary_accept counts count acknowledged events, duplicates among them */
void
summary_accept(Summary *s, int64_t count, int64_t duplicates)
{
	s->accepted += count;
	if (duplicates > 0)
		s->duplicates += duplicates < count ? duplicates : count;
}

/* summary_abort records why the run stopped early (the first reason wins) */
void
summary_abort(Summary *s, const char *reason)
{
	if (s->aborted == NULL)
		s->aborted = cl_strdup(reason);
}

int
summary_exit_code(const Summary *s)
{
	if (s->rejected > 0 || s->failed > 0 || s->aborted != NULL)
		return 1;
	if (s->accepted != s->read)
		return 1;
	return 0;
}

/* summary_consistent: does every event read have exactly one outcome? */
bool
summary_consistent(const Summary *s)
{
	return s->accepted + s->rejected + s->failed == s->read &&
		s->duplicates <= s->accepted &&
		s->sent <= s->read;
}

void
summary_print(const Summary *s, FILE *out)
{
	int			order[SUMMARY_MAX_REASONS];

	/* rejected lines in input order (they are found out of order) */
	for (int i = 0; i < s->nreject_reasons; i++)
	{
		int			j = i;

		while (j > 0 && s->reject_lines[order[j - 1]] > s->reject_lines[i])
		{
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	fprintf(out, "read:       %" PRId64 "\n", s->read);
	fprintf(out, "sent:       %" PRId64 "\n", s->sent);
	fprintf(out, "accepted:   %" PRId64 "\n", s->accepted);
	fprintf(out, "duplicates: %" PRId64 "\n", s->duplicates);
	fprintf(out, "rejected:   %" PRId64 "\n", s->rejected);
	for (int i = 0; i < s->nreject_reasons; i++)
		fprintf(out, "  %s\n", s->reject_reasons[order[i]]);
	if (s->rejected > s->nreject_reasons)
		fprintf(out, "  ... and %" PRId64 " more\n",
				s->rejected - s->nreject_reasons);
	fprintf(out, "failed:     %" PRId64 "\n", s->failed);
	for (int i = 0; i < s->nfail_reasons; i++)
		fprintf(out, "  %s\n", s->fail_reasons[i]);
	if (s->fail_reasons_seen > s->nfail_reasons)
		fprintf(out, "  ... and %" PRId64 " more\n",
				s->fail_reasons_seen - s->nfail_reasons);
	fprintf(out, "requests:   %" PRId64 " (retries: %" PRId64 ")\n",
			s->requests, s->retries);
	if (s->aborted != NULL)
		fprintf(out, "aborted:    %s\n", s->aborted);
}
