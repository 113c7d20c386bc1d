/*-------------------------------------------------------------------------
 *
 * test_stream_index.c
 *	  Unit tests of stream_index.c: who gets a looked-up state, with which
 *	  seq (a new subscriber's first state goes to it alone, nothing is
 *	  sent twice, a file's users share a seq), the wanted queue, and what
 *	  a client's resume point means.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "core/stream_index.h"
#include "unit.h"

/* a subscriber: the messages it got, as "user@seq" */
typedef struct Sub
{
	char		got[1024];
	int			n;
} Sub;

/*
 * answer_all looks up every wanted user, as stream.c does, and sends each
 * watcher what index_label says (the subscribers' states are not needed).
 */
static void
answer_all(void)
{
	UserEntry  *e;

	while ((e = index_wanted_head()) != NULL)
	{
		for (int i = 0; i < e->nwatches; i++)
		{
			Sub		   *s = e->watches[i].sub;
			uint64_t	seq = index_label(e, &e->watches[i]);

			if (seq == 0)
				continue;
			snprintf(s->got + strlen(s->got), sizeof(s->got) - strlen(s->got),
					 "%s%s@%llu", s->n > 0 ? " " : "", e->user_id,
					 (unsigned long long) seq);
			s->n++;
		}
		index_answered(e);
	}
}

static void
clear(Sub *s)
{
	s->got[0] = '\0';
	s->n = 0;
}

/*
 * A subscriber of two users gets each state once while others subscribe
 * to those users; the others get their first states alone.
 */
static void
test_first_states_alone(void)
{
	Sub			a = {0},
				b = {0},
				c = {0};
	UserEntry  *ua,
			   *ub,
			   *ua2,
			   *uc;

	/* a watches u1 and u2, and gets their first states at 100 */
	ua = index_watch("u1", &a);
	ub = index_watch("u2", &a);
	CHECK(ua != NULL && ub != NULL);
	index_first(ua, &a, 0, 100);
	index_first(ub, &a, 0, 100);
	CHECK_INT_EQ(index_nwanted(), 2);
	answer_all();
	CHECK_STR_EQ(a.got, "u1@100 u2@100");
	clear(&a);

	/* b subscribes to u1, c to u1 and u2: a gets nothing more */
	ua2 = index_watch("u1", &b);
	CHECK(ua2 == ua);
	index_first(ua, &b, 0, 100);
	CHECK(index_watch("u1", &c) == ua);
	CHECK(index_watch("u2", &c) == ub);
	index_first(ua, &c, 0, 110);
	index_first(ub, &c, 0, 110);
	answer_all();
	CHECK_STR_EQ(a.got, "");
	CHECK_STR_EQ(b.got, "u1@100");
	CHECK_STR_EQ(c.got, "u1@110 u2@110");
	clear(&b);
	clear(&c);

	/* a file changes u1 and u2 (one seq): every watcher gets both, once */
	index_changed(ua, 120);
	index_changed(ub, 120);
	answer_all();
	CHECK_STR_EQ(a.got, "u1@120 u2@120");
	CHECK_STR_EQ(b.got, "u1@120");
	CHECK_STR_EQ(c.got, "u1@120 u2@120");
	clear(&a);
	clear(&b);
	clear(&c);

	/* a new subscriber while a change is wanted: the change for all, once */
	index_changed(ua, 130);
	uc = index_watch("u1", &b);
	CHECK(uc == ua);			/* b named u1 twice: one watch */
	index_first(ua, &b, 120, 130);
	answer_all();
	CHECK_STR_EQ(a.got, "u1@130");
	CHECK_STR_EQ(b.got, "u1@130");
	CHECK_STR_EQ(c.got, "u1@130");
	clear(&a);
	clear(&b);
	clear(&c);

	/* a resumer that has the state wants nothing; a gap resends to all */
	index_first(ua, &c, 130, 0);
	CHECK_INT_EQ(index_nwanted(), 0);
	index_changed_all(140);
	answer_all();
	CHECK_STR_EQ(a.got, "u1@140 u2@140");
	CHECK_STR_EQ(b.got, "u1@140");
	CHECK_STR_EQ(c.got, "u1@140 u2@140");

	/* the subscribers go; the entries with them */
	index_unwatch(ua, &a);
	index_unwatch(ub, &a);
	index_unwatch(ua, &b);
	index_unwatch(ua, &c);
	index_unwatch(ub, &c);
	CHECK(index_find("u1", false) == NULL);
	CHECK(index_find("u2", false) == NULL);
}

/* the wanted queue: in seq order; one that leaves is not sent to */
static void
test_wanted_queue(void)
{
	Sub			a = {0};
	UserEntry  *e1 = index_watch("q1", &a),
			   *e2 = index_watch("q2", &a),
			   *e3 = index_find("q3", true);	/* a user nobody watches */

	index_changed(e2, 10);
	index_changed(e1, 11);
	index_changed(e3, 12);
	index_changed(e1, 11);		/* again: stays */
	CHECK(index_wanted_head() == e2 && e2->wnext == e1 && e1->wnext == e3);
	index_changed(e2, 13);		/* changed again: to the end, in seq order */
	CHECK_INT_EQ(index_nwanted(), 3);
	CHECK(index_wanted_head() == e1);
	CHECK(e1->wnext == e3 && e3->wnext == e2 && e2->wnext == NULL);
	CHECK(e2->wprev == e3 && e1->wprev == NULL);
	CHECK(e2->changed_seq == 13);
	index_unwatch(e1, &a);
	answer_all();
	CHECK_STR_EQ(a.got, "q2@13");
	CHECK_INT_EQ(index_nwanted(), 0);
	CHECK(index_find("q1", false) == NULL);
	CHECK(index_find("q3", false) == NULL);
	index_unwatch(e2, &a);
}

/* what a resume point means */
static void
test_resume_kind(void)
{
	const uint64_t huge = UINT64_MAX - 1;

	/* none */
	CHECK_INT_EQ(resume_kind(0, 500, 500), RESUME_NONE);
	/* read here, or from before a restart (older): the feed decides */
	CHECK_INT_EQ(resume_kind(400, 500, 500), RESUME_FROM);
	CHECK_INT_EQ(resume_kind(500, 500, 500), RESUME_FROM);
	CHECK_INT_EQ(resume_kind(1, 500, 600), RESUME_FROM);
	/* published, not yet read by this worker: wait for it */
	CHECK_INT_EQ(resume_kind(550, 500, 600), RESUME_WAIT);
	CHECK_INT_EQ(resume_kind(600, 500, 600), RESUME_WAIT);
	/* never given out: unknown, whatever its size */
	CHECK_INT_EQ(resume_kind(601, 500, 600), RESUME_UNKNOWN);
	CHECK_INT_EQ(resume_kind(huge, 500, 600), RESUME_UNKNOWN);
	CHECK_INT_EQ(resume_kind(UINT64_MAX, 500, 600), RESUME_UNKNOWN);
	/* before this worker read anything: wait */
	CHECK_INT_EQ(resume_kind(0, 0, 0), RESUME_WAIT);
	CHECK_INT_EQ(resume_kind(huge, 0, 0), RESUME_WAIT);
}

int
main(void)
{
	test_first_states_alone();
	test_wanted_queue();
	test_resume_kind();
	return unit_summary();
}
