"""TensorFlow's ``tf.train.Example`` / ``SequenceExample`` message classes without TensorFlow:
built from descriptors written here, in a private descriptor pool (no clash with TensorFlow's
own classes if it is imported too). Field numbers follow
tensorflow/core/example/{feature,example}.proto, so records written by TensorFlow parse.

``Features`` holds a record's context (``feature: map<string, Feature>``); a ``Feature`` is
one of ``BytesList`` / ``FloatList`` / ``Int64List``; a ``SequenceExample`` adds
``FeatureLists`` (``feature_list: map<string, FeatureList>``).
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory


def _build_message_classes() -> dict[str, Any]:
    F = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="videozoo/tensorflow_example.proto", package="tensorflow", syntax="proto3"
    )

    def field(name, number, type_, repeated=False, message=None, oneof=None):
        f = F(name=name, number=number, type=type_, label=F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL)
        if message:
            f.type_name = f".tensorflow.{message}"
        if oneof is not None:
            f.oneof_index = oneof
        return f

    def message(name, *fields):
        m = proto.message_type.add(name=name)
        m.field.extend(fields)
        return m

    def string_map(name, field_name, entry_name, value):
        m = proto.message_type.add(name=name)
        entry = m.nested_type.add(name=entry_name)
        entry.options.map_entry = True
        entry.field.extend([field("key", 1, F.TYPE_STRING), field("value", 2, F.TYPE_MESSAGE, message=value)])
        m.field.append(field(field_name, 1, F.TYPE_MESSAGE, True, f"{name}.{entry_name}"))

    message("BytesList", field("value", 1, F.TYPE_BYTES, True))
    message("FloatList", field("value", 1, F.TYPE_FLOAT, True))
    message("Int64List", field("value", 1, F.TYPE_INT64, True))
    feature = message(
        "Feature",
        field("bytes_list", 1, F.TYPE_MESSAGE, message="BytesList", oneof=0),
        field("float_list", 2, F.TYPE_MESSAGE, message="FloatList", oneof=0),
        field("int64_list", 3, F.TYPE_MESSAGE, message="Int64List", oneof=0),
    )
    feature.oneof_decl.add(name="kind")
    string_map("Features", "feature", "FeatureEntry", "Feature")
    message("FeatureList", field("feature", 1, F.TYPE_MESSAGE, True, "Feature"))
    string_map("FeatureLists", "feature_list", "FeatureListEntry", "FeatureList")
    message("Example", field("features", 1, F.TYPE_MESSAGE, message="Features"))
    message(
        "SequenceExample",
        field("context", 1, F.TYPE_MESSAGE, message="Features"),
        field("feature_lists", 2, F.TYPE_MESSAGE, message="FeatureLists"),
    )

    # A private pool: no clash with TensorFlow's own classes if it is imported too.
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {
        m.name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"tensorflow.{m.name}"))
        for m in proto.message_type
    }


_MESSAGES = _build_message_classes()
BytesList, FloatList, Int64List = _MESSAGES["BytesList"], _MESSAGES["FloatList"], _MESSAGES["Int64List"]
Feature, Features = _MESSAGES["Feature"], _MESSAGES["Features"]
FeatureList, FeatureLists = _MESSAGES["FeatureList"], _MESSAGES["FeatureLists"]
Example, SequenceExample = _MESSAGES["Example"], _MESSAGES["SequenceExample"]
