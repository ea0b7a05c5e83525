-- Every row loses the key (the detector then stored "erased": false on each): as before 0015.
UPDATE churn_processed SET annotated = annotated - 'erased' WHERE annotated ? 'erased';
