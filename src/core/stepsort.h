/*-------------------------------------------------------------------------
 *
 * stepsort.h
 *	  A merge sort of an array of pointers that is done in bounded steps.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_STEPSORT_H
#define EVPROC_STEPSORT_H

#include <stdbool.h>
#include <stddef.h>

/* compares two elements of the array (the pointers themselves) */
typedef int (*StepSortCmp) (const void *a, const void *b);

typedef struct StepSort
{
	void	  **a;				/* the elements, sorted in runs of width */
	void	  **tmp;			/* as many slots: the next pass goes here */
	size_t		n;
	StepSortCmp cmp;
	size_t		width;			/* sorted runs so far; 0 before the first */
	size_t		lo;				/* the pair of runs being merged */
	size_t		i;				/* next of the left run */
	size_t		j;				/* next of the right run */
	size_t		k;				/* next slot of tmp */
	bool		merging;		/* i, j, k are those of the pair at lo */
} StepSort;

extern void stepsort_init(StepSort *s, void **a, void **tmp, size_t n,
						  StepSortCmp cmp);
extern bool stepsort_run(StepSort *s, size_t budget);
extern void **stepsort_result(const StepSort *s);

#endif							/* EVPROC_STEPSORT_H */
