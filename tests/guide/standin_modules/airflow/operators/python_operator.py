"""Stand-in for ``airflow.operators.python_operator.PythonOperator``: ``execute(context)``
calls ``python_callable(**context)``, as Airflow does for a task instance."""


class PythonOperator:
    def __init__(self, task_id, python_callable, dag=None, **kwargs):
        self.task_id = task_id
        self.python_callable = python_callable
        if dag is not None:
            dag.tasks.append(self)

    def execute(self, context):
        return self.python_callable(**context)
