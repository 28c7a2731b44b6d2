mpk_test(error codes)
mpk_test(config env)
mpk_test(error msg LABELS unit tsan TIMEOUT 60)
mpk_test(error sites TIMEOUT 120)
