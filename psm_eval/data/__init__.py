"""The data stage: task specs (`tasks/<name>/task.yaml`), their samples, and loaders for public datasets."""

from psm_eval.data.task import Task, TaskSpec, default_tasks_root, find_task_dirs, load_task, resolve_task

__all__ = ["Task", "TaskSpec", "load_task", "find_task_dirs", "resolve_task", "default_tasks_root"]
