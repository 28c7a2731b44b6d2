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
# SPSC mode (MPK_QUEUE_SPSC): the unit program, its threads-only run (also
# meant for ThreadSanitizer), and the kill rounds.
mpk_test(queue spsc LABELS unit TIMEOUT 90)
add_test(NAME queue.spsc-threads COMMAND test-queue-spsc threads)
set_tests_properties(queue.spsc-threads PROPERTIES LABELS "unit;tsan"
                     TIMEOUT 90)
add_test(NAME queue.spsc-nospin COMMAND test-queue-spsc)
set_tests_properties(queue.spsc-nospin PROPERTIES LABELS unit TIMEOUT 90
                     ENVIRONMENT "MPK_SPIN_US=0")
mpk_test(queue spsc-kill DIR fault LABELS fault TIMEOUT 180)
add_test(NAME queue.spsc-kill-nospin COMMAND test-queue-spsc-kill)
set_tests_properties(queue.spsc-kill-nospin PROPERTIES LABELS fault
                     TIMEOUT 180 ENVIRONMENT "MPK_SPIN_US=0")
