# Queue and JoinableQueue (mpk/queue.h).
mpk_test(queue basic LABELS unit TIMEOUT 60)
mpk_test(queue threads LABELS unit tsan TIMEOUT 120)
mpk_test(queue seeds LABELS unit TIMEOUT 90)
mpk_test(queue mpmc DIR stress LABELS stress TIMEOUT 180)
mpk_test(queue kill DIR fault LABELS fault TIMEOUT 180)
# The same programs with spinning off (MPK_SPIN_US=0): every wait goes
# through the futex sleep and wake-up protocol instead of resolving while
# spinning.
add_test(NAME queue.threads-nospin COMMAND test-queue-threads)
set_tests_properties(queue.threads-nospin PROPERTIES LABELS "unit;tsan"
                     TIMEOUT 120 ENVIRONMENT "MPK_SPIN_US=0")
add_test(NAME queue.mpmc-nospin COMMAND test-queue-mpmc)
set_tests_properties(queue.mpmc-nospin PROPERTIES LABELS stress TIMEOUT 180
                     ENVIRONMENT "MPK_SPIN_US=0")
add_test(NAME queue.kill-nospin COMMAND test-queue-kill)
set_tests_properties(queue.kill-nospin PROPERTIES LABELS fault TIMEOUT 180
                     ENVIRONMENT "MPK_SPIN_US=0")
