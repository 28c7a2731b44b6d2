/* dict.seeds: the Manager example of seed 003 ("How to manage a state
 * between processes") as C with mpk:
 *
 *   mgr = multiprocessing.Manager()
 *   dictionary = mgr.dict()
 *   jobs = [Process(target=taskWorker, args=(dictionary, i, i * 2))
 *           for i in range(10)]
 *   ... start, join ...
 *   print('Results:', dictionary)
 *
 * Each of 10 processes sets key i -> 2 * i; the parent sees all 10 pairs and
 * prints them sorted: "Results: {0: 0, 1: 2, ..., 9: 18}".
 */
#include <stdlib.h>

#include "check.h"
#include "mpk/dict.h"
#include "mpk/process.h"

typedef struct {
  mpk_dict_t *dictionary;
  int key, item;
} task;

/* def taskWorker(dictionary, key, item): dictionary[key] = item */
static int task_worker(void *arg) {
  task *t = arg;
  char key[16];
  snprintf(key, sizeof key, "%d", t->key);
  long value = t->item;
  CHECK_OK(mpk_dict_set(t->dictionary, key, &value, sizeof value));
  printf("key = %d value = %ld\n", t->key, value);
  return 0;
}

typedef struct {
  long key[16], value[16];
  int n;
} pairs;

static int collect(const char *key, const void *val, size_t len, void *arg) {
  pairs *p = arg;
  CHECK(p->n < 16);
  CHECK_EQ(len, sizeof(long));
  p->key[p->n] = strtol(key, NULL, 10);
  memcpy(&p->value[p->n], val, sizeof(long));
  p->n++;
  return 0;
}

static void test_seed003_manager_dict(void) {
  mpk_dict_t *dictionary;
  CHECK_OK(mpk_dict_new(&dictionary));
  mpk_process_t *jobs[10];
  for (int i = 0; i < 10; i++) {
    task t = {dictionary, i, i * 2};
    CHECK_OK(mpk_process_new(&jobs[i], task_worker, &t, sizeof t, NULL));
  }
  for (int i = 0; i < 10; i++)
    CHECK_OK(mpk_process_start(jobs[i]));
  for (int i = 0; i < 10; i++) {
    CHECK_OK(mpk_process_join(jobs[i], 30));
    int code = -1;
    CHECK_OK(mpk_process_exitcode(jobs[i], &code));
    CHECK_EQ(code, 0);
    mpk_process_free(jobs[i]);
  }
  CHECK_EQ(mpk_dict_len(dictionary), 10);
  pairs p = {.n = 0};
  CHECK_OK(mpk_dict_foreach(dictionary, collect, &p));
  CHECK_EQ(p.n, 10);
  /* sort by key (insertion sort: ten items) */
  for (int i = 1; i < p.n; i++)
    for (int j = i; j > 0 && p.key[j - 1] > p.key[j]; j--) {
      long tk = p.key[j], tv = p.value[j];
      p.key[j] = p.key[j - 1];
      p.value[j] = p.value[j - 1];
      p.key[j - 1] = tk;
      p.value[j - 1] = tv;
    }
  char out[256];
  size_t used = (size_t)snprintf(out, sizeof out, "Results: {");
  for (int i = 0; i < p.n; i++)
    used += (size_t)snprintf(out + used, sizeof out - used, "%s%ld: %ld",
                             i ? ", " : "", p.key[i], p.value[i]);
  snprintf(out + used, sizeof out - used, "}");
  printf("%s\n", out);
  CHECK_STR(out, "Results: {0: 0, 1: 2, 2: 4, 3: 6, 4: 8, 5: 10, 6: 12, "
                 "7: 14, 8: 16, 9: 18}");
  mpk_dict_free(dictionary);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_seed003_manager_dict);
  return check_done();
}
