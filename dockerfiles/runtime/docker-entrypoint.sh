#!/bin/sh
# Start Orthanc with /etc/orthanc/*.json (plain JSON), merged in file order, then:
# - ORTHANC__SECTION__KEY=value environment variables (value parsed as JSON when
#   it is JSON, else taken as a string); SNAKE_CASE names become Orthanc's
#   PascalCase names (ORTHANC__DICOM_AET -> DicomAet, ORTHANC__POSTGRESQL__HOST
#   -> PostgreSQL.Host);
# - ORTHANC_JSON: a JSON object merged last;
# - users from the secret file ORTHANC_USERS_FILE (default
#   /run/secrets/orthanc-users), a JSON object {"user": "password"}.
# <NAME>_PLUGIN_ENABLED=false leaves a plugin out (NAME as in the file name,
# e.g. POSTGRESQL_PLUGIN_ENABLED=false drops libOrthancPostgreSQL*.so).
# Remote access without authentication is refused unless
# ORTHANC_ALLOW_UNAUTHENTICATED=true.
set -eu
run=${ORTHANC_RUNTIME_DIR:-/tmp/orthanc}
mkdir -p "$run/plugins"
config=$run/orthanc.json

env_json=$(jq -n '
  def pascal: {"POSTGRESQL":"PostgreSQL","MYSQL":"MySQL","DICOM_WEB":"DicomWeb","WSI":"WSI",
               "AET":"Aet","HTTP":"Http","SSL":"Ssl","TLS":"Tls","URL":"Url","ID":"Id"} as $special
    | if $special[.] then $special[.]
      else split("_") | map(if $special[.] then $special[.] else (.[0:1] + (.[1:] | ascii_downcase)) end) | join("")
      end;
  reduce (env | to_entries[] | select(.key | startswith("ORTHANC__"))) as $e ({};
    setpath($e.key | ltrimstr("ORTHANC__") | split("__") | map(pascal);
            ($e.value | try fromjson catch $e.value)))')

users_file=${ORTHANC_USERS_FILE:-/run/secrets/orthanc-users}
users='{}'
if [ -f "$users_file" ]; then
  users=$(jq -e 'if type == "object" then {RegisteredUsers: .} else error("not an object") end' "$users_file") \
    || { echo "docker-entrypoint: $users_file: want a JSON object {\"user\": \"password\"}" >&2; exit 1; }
fi

# Plugins: everything in the plugin folder unless switched off.
plugins='[]'
for so in /usr/share/orthanc/plugins/*.so; do
  [ -e "$so" ] || continue
  base=$(basename "$so" .so); name=$(echo "${base#lib}" | sed 's/^Orthanc//' | tr '[:lower:]' '[:upper:]')
  enabled=true
  for var in $(env | sed -n 's/^\([A-Z0-9_]*\)_PLUGIN_ENABLED=.*/\1/p'); do
    case $name in "$var"*) eval "enabled=\${${var}_PLUGIN_ENABLED}";; esac
  done
  [ "$enabled" = false ] && { echo "docker-entrypoint: plugin $base disabled"; continue; }
  plugins=$(echo "$plugins" | jq --arg p "$so" '. + [$p]')
done

jq -s 'reduce .[] as $x ({}; . * $x)' /etc/orthanc/*.json > "$run/files.json"
echo "$env_json" > "$run/env.json"
echo "$users" > "$run/users.json"
echo "${ORTHANC_JSON:-{\}}" > "$run/extra.json"
jq -s --argjson plugins "$plugins" 'reduce .[] as $x ({}; . * $x) | .Plugins = $plugins' \
  "$run/files.json" "$run/env.json" "$run/users.json" "$run/extra.json" > "$config"
rm -f "$run/files.json" "$run/env.json" "$run/users.json" "$run/extra.json"
chmod 600 "$config"

remote=$(jq -r '.RemoteAccessAllowed // false' "$config")
auth=$(jq -r '.AuthenticationEnabled // false' "$config")
nusers=$(jq -r '.RegisteredUsers // {} | length' "$config")
if [ "$remote" = true ] && [ "${ORTHANC_ALLOW_UNAUTHENTICATED:-false}" = true ] && [ "$nusers" = 0 ]; then
  echo "docker-entrypoint: WARNING: remote access without authentication, as asked" >&2
  jq '.AuthenticationEnabled = false' "$config" > "$config.new" && mv "$config.new" "$config"
elif [ "$remote" = true ]; then
  if [ "$auth" != true ] || [ "$nusers" = 0 ]; then
    echo "docker-entrypoint: remote access is on but no user is configured; set" >&2
    echo "  ORTHANC__REGISTERED_USERS='{\"admin\":\"<password>\"}' or a secret file $users_file," >&2
    echo "  or ORTHANC_ALLOW_UNAUTHENTICATED=true to run without authentication" >&2
    exit 1
  fi
fi
if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then
  exec "$@"
fi
exec /usr/sbin/Orthanc "$@" "$config"
