UPDATE churn_processed SET annotated = annotated - 'erased' WHERE annotated ? 'erased';
