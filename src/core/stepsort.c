/*-------------------------------------------------------------------------
 *
 * stepsort.c
 *	  A merge sort of an array of pointers that is done in bounded steps:
 *	  the event loop sorts a large file's sums a slice at a time rather
 *	  than in one qsort that would keep it from serving for tens of ms.
 *
 * Bottom-up: runs of STEPSORT_RUN elements are sorted by insertion, then
 * merged pairwise, pass after pass, between the array and a second one of
 * the same size.  Every position is kept in the StepSort, so a step may
 * stop after any element.  No allocation, no backend: unit-tested alone.
 *
 *-------------------------------------------------------------------------
 */
#include "core/stepsort.h"

/* elements sorted by insertion before the merges */
#define STEPSORT_RUN	32

/* stepsort_init prepares the sort of a[0..n); tmp has room for n. */
void
stepsort_init(StepSort *s, void **a, void **tmp, size_t n, StepSortCmp cmp)
{
	s->a = a;
	s->tmp = tmp;
	s->n = n;
	s->cmp = cmp;
	s->width = 0;
	s->lo = 0;
	s->i = s->j = s->k = 0;
	s->merging = false;
}

/* insertion_sort sorts a[lo..hi); returns the work done (shifts). */
static size_t
insertion_sort(void **a, size_t lo, size_t hi, StepSortCmp cmp)
{
	size_t		work = hi - lo;

	for (size_t x = lo + 1; x < hi; x++)
	{
		void	   *v = a[x];
		size_t		y = x;

		while (y > lo && cmp(a[y - 1], v) > 0)
		{
			a[y] = a[y - 1];
			y--;
			work++;
		}
		a[y] = v;
	}
	return work;
}

/*
 * stepsort_run goes on with the sort for about budget element moves (at
 * least one run or one element).  Returns true once the array is sorted:
 * then stepsort_result gives it (either of the two arrays).
 */
bool
stepsort_run(StepSort *s, size_t budget)
{
	size_t		done = 0;

	/* the runs */
	while (s->width == 0)
	{
		size_t		hi;

		if (s->lo >= s->n)
		{
			s->width = STEPSORT_RUN;
			s->lo = 0;
			break;
		}
		if (done > 0 && done >= budget)
			return false;
		hi = s->lo + STEPSORT_RUN < s->n ? s->lo + STEPSORT_RUN : s->n;
		done += insertion_sort(s->a, s->lo, hi, s->cmp);
		s->lo = hi;
	}

	/* the merges: a pass merges each pair of runs of width into tmp */
	while (s->width < s->n)
	{
		size_t		mid;
		size_t		hi;

		if (s->lo >= s->n)
		{
			void	  **t = s->a;

			s->a = s->tmp;
			s->tmp = t;
			s->width *= 2;
			s->lo = 0;
			continue;
		}
		mid = s->lo + s->width < s->n ? s->lo + s->width : s->n;
		hi = mid + s->width < s->n ? mid + s->width : s->n;
		if (!s->merging)
		{
			s->i = s->lo;
			s->j = mid;
			s->k = s->lo;
			s->merging = true;
		}
		while (s->k < hi)
		{
			if (done > 0 && done >= budget)
				return false;
			if (s->j >= hi || (s->i < mid && s->cmp(s->a[s->i], s->a[s->j]) <= 0))
				s->tmp[s->k++] = s->a[s->i++];
			else
				s->tmp[s->k++] = s->a[s->j++];
			done++;
		}
		s->merging = false;
		s->lo = hi;
	}
	return true;
}

/* stepsort_result: the sorted array, once stepsort_run returned true */
void	  **
stepsort_result(const StepSort *s)
{
	return s->a;
}
