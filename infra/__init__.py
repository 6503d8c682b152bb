"""The CDK app: a control stack in the home region and one probe stack per probe region."""
