# mpk/dict.h: the shared dict (Manager().dict()).
mpk_test(dict basic TIMEOUT 60)
mpk_test(dict threads LABELS unit tsan TIMEOUT 60)
mpk_test(dict seeds TIMEOUT 60)
mpk_test(dict procs DIR stress LABELS stress TIMEOUT 180)
mpk_test(dict kill DIR fault LABELS fault TIMEOUT 120)
