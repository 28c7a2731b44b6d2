/* array.seed: the C twin of the seed tutorial's "SHARE MEMORY" program
   (seeds/002): a child process squares a list into an Array('i', 4) and
   stores the sum into a Value('i'); the parent then sees both.

     result = multiprocessing.Array('i', 4)
     square_sum = multiprocessing.Value('i')
     p1 = multiprocessing.Process(target=square_list,
                                  args=(mylist, result, square_sum))
     p1.start(); p1.join()
*/
#include <stdio.h>

#include "check.h"
#include "mpk/process.h"
#include "mpk/shm.h"

typedef struct {
  int mylist[4];
  mpk_array_t *result;     /* Array('i', 4) */
  mpk_array_t *square_sum; /* Value('i') */
} square_args;

static int square_list(void *arg) {
  square_args *a = arg; /* a copy, like Python's pickled args */
  int *result = mpk_array_data(a->result);
  /* Python's Array has a lock; the seed does not use it, we show how */
  CHECK_OK(mpk_array_lock(a->result));
  for (int idx = 0; idx < 4; idx++)
    result[idx] = a->mylist[idx] * a->mylist[idx];
  int sum = 0;
  for (int idx = 0; idx < 4; idx++)
    sum += result[idx];
  CHECK_OK(mpk_array_unlock(a->result));
  mpk_array_store(a->square_sum, 0, sum); /* square_sum.value = sum */
  printf("Result(in process p1): [%d, %d, %d, %d]\n", result[0], result[1],
         result[2], result[3]);
  printf("Sum of squares(in process p1): %ld\n",
         mpk_array_load(a->square_sum, 0));
  return 0;
}

static void test_share_memory(void) {
  square_args args = {{1, 2, 3, 4}, NULL, NULL};
  CHECK_OK(mpk_array_new(&args.result, MPK_INT, 4, 1));
  CHECK_OK(mpk_array_new(&args.square_sum, MPK_INT, 1, 1));
  mpk_process_t *p1;
  CHECK_OK(mpk_process_new(&p1, square_list, &args, sizeof args, NULL));
  CHECK_OK(mpk_process_start(p1));
  CHECK_OK(mpk_process_join(p1, CHECK_HANG_S));
  int code = -1;
  CHECK_OK(mpk_process_exitcode(p1, &code));
  CHECK_EQ(code, 0);
  mpk_process_free(p1);
  int *result = mpk_array_data(args.result);
  printf("Result(in main program): [%d, %d, %d, %d]\n", result[0], result[1],
         result[2], result[3]);
  printf("Sum of squares(in main program): %ld\n",
         mpk_array_load(args.square_sum, 0));
  CHECK_EQ(result[0], 1);
  CHECK_EQ(result[1], 4);
  CHECK_EQ(result[2], 9);
  CHECK_EQ(result[3], 16);
  CHECK_EQ(mpk_array_load(args.square_sum, 0), 30);
  CHECK_EQ(*(int *)mpk_array_data(args.square_sum), 30);
  mpk_array_free(args.result);
  mpk_array_free(args.square_sum);
}

int main(void) {
  check_watchdog(30);
  CHECK_RUN(test_share_memory);
  return check_done();
}
