# process: mpk_process_* and the internal fork layer (internal/spawn.h).
mpk_test(process api TIMEOUT 60)
mpk_test(process lifecycle TIMEOUT 60)
mpk_test(process spawn TIMEOUT 60)
mpk_test(process threads LABELS unit tsan TIMEOUT 60)
mpk_test(process seeds TIMEOUT 60)
mpk_test(process parentdeath DIR fault LABELS fault TIMEOUT 60)
mpk_test(process forkrace LABELS unit tsan TIMEOUT 60)
mpk_test(process reaped TIMEOUT 60)
