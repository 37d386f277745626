#!/usr/bin/env bash
# Resolve Apache Kafka (org.apache.kafka:kafka_2.13, runtime scope, with its transitive
# dependencies) plus the reload4j logging backend from Maven Central into .tools/kafka/libs
# (git-ignored). Run by scripts/test.sh; idempotent: a complete install of the same version is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
KAFKA_VERSION="${KAFKA_VERSION:-3.9.1}"
DEST="$PWD/.tools/kafka"
STAMP="$DEST/.version"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$KAFKA_VERSION" ] && ls "$DEST"/libs/kafka_2.13-*.jar >/dev/null 2>&1; then
  exit 0
fi
command -v java >/dev/null || { echo "install-kafka: java is required (apt-get install openjdk-17-jre-headless)" >&2; exit 1; }
command -v mvn >/dev/null || { echo "install-kafka: mvn is required (apt-get install maven)" >&2; exit 1; }

echo "resolving kafka_2.13:$KAFKA_VERSION from Maven Central into $DEST/libs"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat > "$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>cloudmart</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>ch.qos.reload4j</groupId><artifactId>reload4j</artifactId><version>1.2.25</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
POM
rm -rf "$DEST/libs.tmp"
mkdir -p "$DEST"
mvn -q -B -f "$work/pom.xml" org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory="$DEST/libs.tmp"
rm -rf "$DEST/libs"
mv "$DEST/libs.tmp" "$DEST/libs"
echo "$KAFKA_VERSION" > "$STAMP"
echo "kafka $KAFKA_VERSION: $(ls "$DEST/libs" | wc -l) jars"
