"""theLook eCommerce workload generator."""
