"""Arguments of deploy_dag, delete_dag, refresh_dag and refresh_all_dags."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validates_schema

from rest_api_plugin.schemas.base import ArgumentsSchema
from rest_api_plugin.schemas.dags import REQUIRED_DAG_ID
from rest_api_plugin.schemas.fields import Flag, Key


class UploadedFile(fields.Field):
    """A multipart file part. Uploads reach the handler through ``ctx.files``; a plain field is refused."""

    def _deserialize(self, value, attr, data, **kwargs):
        raise ValidationError("Send the DAG file as a multipart/form-data file part named dag_file.")


class DeployDagSchema(ArgumentsSchema):
    dag_file = UploadedFile()
    force = Flag(load_default=False)
    pause = Flag(load_default=False)
    unpause = Flag(load_default=False)

    @validates_schema
    def pause_or_unpause(self, data, **kwargs):
        if data.get("pause") and data.get("unpause"):
            raise ValidationError("Choose pause or unpause, not both.", "_schema")


class DeleteDagSchema(ArgumentsSchema):
    dag_id = Key("dag_id", required=True, error_messages=REQUIRED_DAG_ID)
    delete_file = Flag(load_default=False)


class RefreshDagSchema(ArgumentsSchema):
    dag_id = Key("dag_id", required=True, error_messages=REQUIRED_DAG_ID)


class RefreshAllDagsSchema(ArgumentsSchema):
    pass
