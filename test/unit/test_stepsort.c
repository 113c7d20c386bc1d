/*-------------------------------------------------------------------------
 *
 * test_stepsort.c
 *	  Unit tests of stepsort.c, the merge sort done in bounded steps.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stepsort.h"
#include "unit.h"

static int
cmp_ints(const void *a, const void *b)
{
	int			x = *(const int *) a;
	int			y = *(const int *) b;

	return (x > y) - (x < y);
}

/* sorts n values (with repeats) in steps of budget; checks the order */
static void
check_sort(size_t n, size_t budget, unsigned seed)
{
	int		   *vals = malloc(sizeof(int) * (n + 1));
	void	  **a = malloc(sizeof(void *) * (n + 1));
	void	  **tmp = malloc(sizeof(void *) * (n + 1));
	StepSort	s;
	void	  **out;
	size_t		steps = 0;
	bool		ordered = true;
	long		sum_in = 0;
	long		sum_out = 0;

	srand(seed);
	for (size_t i = 0; i < n; i++)
	{
		vals[i] = rand() % (int) (n / 2 + 1);
		a[i] = &vals[i];
		sum_in += vals[i];
	}
	stepsort_init(&s, a, tmp, n, cmp_ints);
	while (!stepsort_run(&s, budget))
		steps++;
	out = stepsort_result(&s);
	for (size_t i = 0; i < n; i++)
	{
		sum_out += *(int *) out[i];
		if (i > 0 && *(int *) out[i - 1] > *(int *) out[i])
			ordered = false;
	}
	CHECK_MSG(ordered, "n %zu budget %zu: out of order", n, budget);
	CHECK_MSG(sum_in == sum_out, "n %zu budget %zu: elements lost", n, budget);
	/* a small budget takes many steps: each one did bounded work */
	if (budget == 1 && n > 64)
		CHECK_MSG(steps >= n, "n %zu: %zu steps", n, steps);
	free(vals);
	free(a);
	free(tmp);
}

int
main(void)
{
	size_t		sizes[] = {0, 1, 2, 31, 32, 33, 64, 65, 1000, 4097, 100000};
	size_t		budgets[] = {1, 7, 1000, (size_t) -1};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		for (size_t j = 0; j < sizeof(budgets) / sizeof(budgets[0]); j++)
			check_sort(sizes[i], budgets[j], (unsigned) (i * 31 + j));
	return unit_summary();
}
