"""A minimal stand-in for Apache Airflow (not installable here): a DAG records its tasks.
Only what the seed guide's Airflow sample uses."""


class DAG:
    def __init__(self, dag_id, schedule_interval=None, **kwargs):
        self.dag_id = dag_id
        self.schedule_interval = schedule_interval
        self.tasks = []
