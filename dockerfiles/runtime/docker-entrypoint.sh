#!/bin/sh
# Start Orthanc the way Orthanc's Docker users expect (README.md, "Running the images").
#
# With no command, or with Orthanc options only (`--verbose`), Orthanc starts with one
# configuration file, made in the runtime folder ($ORTHANC_RUNTIME_DIR, default /tmp/orthanc;
# readable by the Orthanc user only, never printed) from, merged in this order:
# - /etc/orthanc/*.json in file order (JSON, with comments as Orthanc allows them);
# - ORTHANC__SECTION__KEY=value environment variables: SNAKE_CASE becomes Orthanc's
#   PascalCase (ORTHANC__DICOM_AET -> DicomAet, ORTHANC__POSTGRESQL__HOST ->
#   PostgreSQL.Host); a value that is JSON is taken as JSON, anything else as a string.
#   Any of them may come from a file instead: ORTHANC__X__Y_FILE=/run/secrets/name, or a
#   secret file named after the variable (/run/secrets/ORTHANC__X__Y); a value read from
#   a file is a string unless it is a JSON object or array;
# - users from the secret file $ORTHANC_USERS_FILE (default /run/secrets/orthanc-users),
#   a JSON object {"user": "password"};
# - ORTHANC_JSON, a JSON object;
# - the plugins (table below) and the log level (VERBOSE_ENABLED, TRACE_ENABLED).
# Remote access without authentication is refused unless ORTHANC_ALLOW_UNAUTHENTICATED=true.
#
# A command of your own runs as given: `/usr/sbin/Orthanc /my.json` with /my.json alone
# (checked for unauthenticated remote access the same way), anything else (`bash`) with a
# one-line note that nothing was checked.
#
# Orthanc replaces this script (exec), so `docker stop` reaches it; the health check
# (orthanc-healthcheck) asks it with the credentials kept here for it.
set -eu

say() { echo "docker-entrypoint: $*" >&2; }
fail() { say "$*"; exit 1; }

run=${ORTHANC_RUNTIME_DIR:-/tmp/orthanc}
secrets=${ORTHANC_SECRETS_DIR:-/run/secrets}
users_file=${ORTHANC_USERS_FILE:-$secrets/orthanc-users}
plugin_dir=/usr/share/orthanc/plugins

# The plugins of the images, one line each: the file (lib<file>.so in the plugin folder);
# whether it loads with no switch set (on; off; configured: when the configuration has what
# it needs); what it needs to do anything; what switching it on adds to the configuration
# (unless configured otherwise); its switches <NAME>_PLUGIN_ENABLED=true|false (the official
# images' names first).  A switch name also works without its inner underscores
# (DELAYEDDELETION), and, as before, any beginning of the file's name without "Orthanc"
# (POSTGRESQL switches both PostgreSQL plugins); the longest name that matches wins.
# A plugin file that is not in the table loads unless switched off.
PLUGINS='
ServeFolders              on          -                         -                       SERVE_FOLDERS
ModalityWorklists         on          -                         -                       WORKLISTS MODALITY_WORKLISTS
DelayedDeletion           off         -                         DelayedDeletion.Enable  DELAYED_DELETION
Housekeeper               off         -                         Housekeeper.Enable      HOUSEKEEPER
MultitenantDicom          off         MultitenantDicom.Servers  -                       MULTITENANT_DICOM
OrthancPostgreSQLIndex    configured  PostgreSQL                -                       POSTGRESQL POSTGRESQL_INDEX
OrthancPostgreSQLStorage  configured  PostgreSQL                -                       POSTGRESQL POSTGRESQL_STORAGE
OrthancMySQLIndex         configured  MySQL                     -                       MYSQL MYSQL_INDEX
OrthancMySQLStorage       configured  MySQL                     -                       MYSQL MYSQL_STORAGE
OrthancDicomWeb           on          -                         -                       DICOM_WEB
OrthancGdcm               on          -                         -                       GDCM
OrthancWebViewer          on          -                         -                       ORTHANC_WEB_VIEWER WEB_VIEWER
OrthancWSI                on          -                         -                       WSI
'

# jq: Orthanc's JSON (comments allowed) as plain JSON; "" for an empty file.
UNCOMMENT='[scan("\"(?:\\\\.|[^\"\\\\])*\"|//[^\n]*|/\\*(?:[^*]|\\*+[^*/])*\\*+/|[^\"/]+|/|\"")]
  | map(select(test("^(//|/\\*)") | not)) | add // "" | if test("^\\s*$") then {} else fromjson end'
# jq: ORTHANC__ variables ($files: values read from files, by variable) as configuration.
SETTINGS='
  def pascal: {"POSTGRESQL":"PostgreSQL","MYSQL":"MySQL","DICOM_WEB":"DicomWeb","WSI":"WSI",
               "AET":"Aet","HTTP":"Http","SSL":"Ssl","TLS":"Tls","URL":"Url","ID":"Id"} as $special
    | if $special[.] then $special[.]
      else split("_") | map(if $special[.] then $special[.] else (.[0:1] + (.[1:] | ascii_downcase)) end) | join("")
      end;
  def path: ltrimstr("ORTHANC__") | split("__") | map(pascal);
  (reduce ($files | to_entries[]) as $e ({};
     setpath($e.key | path; $e.value | sub("\r?\n$"; "")
             | if test("^\\s*[\\[{]") then (try fromjson catch .) else . end)))
  * (reduce (env | to_entries[] | select((.key | startswith("ORTHANC__")) and (.key | endswith("_FILE") | not))) as $e ({};
     setpath($e.key | path; $e.value | try fromjson catch $e.value)))'

is_true() {  # is_true NAME VALUE: true or false; anything else is an error
  case $(printf '%s' "$2" | tr '[:upper:]' '[:lower:]') in
    true|yes|on|1) return 0 ;;
    false|no|off|0|"") return 1 ;;
    *) fail "$1=$2: want true or false" ;;
  esac
}


# Orthanc configuration files (or folders of them) as a stream of JSON objects on stdout.
read_config() {
  for path; do
    if [ -d "$path" ]; then
      for file in "$path"/*.json; do
        [ -e "$file" ] && read_config "$file"
      done
      continue
    fi
    [ -r "$path" ] || fail "cannot read the configuration file $path as uid $(id -u)"
    jq -e -R -s "$UNCOMMENT | objects" "$path" 2>/dev/null \
      || fail "$path: not a JSON object (the file is not shown)"
  done
}

merge() { jq -s 'reduce .[] as $x ({}; . * $x)'; }

# The ORTHANC__ variables, with those read from files, as one JSON object on stdout.
settings() {
  set --
  filter='{}'
  i=0
  for var in $(env | sed -n 's/^\(ORTHANC__[A-Za-z0-9_]*\)_FILE=.*/\1/p' | sort -u); do
    eval "path=\${${var}_FILE} both=\${$var+set}"
    [ -z "$both" ] || fail "both $var and ${var}_FILE are set: keep one"
    [ -r "$path" ] || fail "${var}_FILE: cannot read $path as uid $(id -u)"
    set -- "$@" --rawfile "f$i" "$path"
    filter="$filter + {\"$var\": \$f$i}"
    i=$((i + 1))
  done
  for path in "$secrets"/ORTHANC__*; do
    [ -f "$path" ] || continue
    var=${path##*/}
    case $var in *[!A-Za-z0-9_]*) continue ;; esac
    eval "given=\${$var+set}\${${var}_FILE+set}"
    if [ -n "$given" ]; then
      say "$var is set in the environment, which wins over the secret file $path"
      continue
    fi
    [ -r "$path" ] || fail "cannot read the secret file $path as uid $(id -u)"
    set -- "$@" --rawfile "f$i" "$path"
    filter="$filter + {\"$var\": \$f$i}"
    i=$((i + 1))
  done
  jq -n "$@" "($filter) as \$files | $SETTINGS" 2>/dev/null \
    || fail "cannot read the ORTHANC__ variables (values are not shown)"
}

# Whether the configuration on stdin lets remote clients in without a password: exits when it
# does, unless allowed (then prints "allowed").
check_access() {  # check_access WHAT
  verdict=$(jq -r 'if .RemoteAccessAllowed != true then "ok"
                   elif .AuthenticationEnabled != false and (.RegisteredUsers // {} | length) > 0 then "ok"
                   else "open" end')
  [ "$verdict" = ok ] && return 0
  if is_true ORTHANC_ALLOW_UNAUTHENTICATED "${ORTHANC_ALLOW_UNAUTHENTICATED:-false}"; then
    say "WARNING: remote access without authentication, as asked ($1)"
    echo allowed
    return 0
  fi
  say "remote access is on but no user is configured ($1); set"
  echo "  ORTHANC__REGISTERED_USERS='{\"admin\":\"<password>\"}' or a secret file $users_file," >&2
  echo "  or ORTHANC_ALLOW_UNAUTHENTICATED=true to run without authentication" >&2
  exit 1
}

# The health check's request (curl's configuration: the URL, and one registered user's
# credentials), from the configuration on stdin; readable by the Orthanc user only.
write_probe() {
  jq -r 'def q: tostring | gsub("\\\\"; "\\\\") | gsub("\""; "\\\"") | "\"" + . + "\"";
         (if .SslEnabled == true then "https" else "http" end) as $scheme
         | "url = " + ("\($scheme)://127.0.0.1:\(.HttpPort // 8042)/system" | q),
           (if .SslEnabled == true then "insecure" else empty end),
           (.RegisteredUsers // {} | to_entries | first | select(. != null)
            | "user = " + ("\(.key):\(.value)" | q))' > "$run/healthcheck.curl"
}

runtime_folder() {  # whether the runtime folder is there and writable (made if needed)
  (umask 077 && mkdir -p "$run") 2>/dev/null && [ -w "$run" ]
}

# The plugins to load, from the table and the switches: prints "load <file>", "set <Section.Key>"
# (what switching on adds) and "skip <name> (<why>)" lines.
choose_plugins() {  # choose_plugins CONFIG-FILE
  merged=$1
  switches=$(env | sed -n 's/^\([A-Za-z0-9_]*\)_PLUGIN_ENABLED=.*/\1/p')
  for so in "$plugin_dir"/*.so; do
    [ -e "$so" ] || continue
    file=${so##*/lib}
    file=${file%.so}
    row=$(printf '%s\n' "$PLUGINS" | awk -v f="$file" '$1 == f')
    [ -n "$row" ] || row="$file on - -"
    set -f
    # shellcheck disable=SC2086
    set -- $row
    set +f
    default=$2 needs=$3 sets=$4
    shift 4
    compact=$(printf '%s' "${file#Orthanc}" | tr '[:lower:]' '[:upper:]')
    switch='' best=0
    for var in $switches; do
      name=$(printf '%s' "$var" | tr -d _)
      match=false
      case $compact in "$name"*) match=true ;; esac
      for alias; do [ "$(printf '%s' "$alias" | tr -d _)" = "$name" ] && match=true; done
      if [ "$match" = true ] && [ "${#name}" -gt "$best" ]; then
        switch=$var best=${#name}
      fi
    done
    configured=true
    if [ "$needs" != - ] && ! jq -e --arg p "$needs" 'getpath($p | split(".")) != null' "$merged" >/dev/null; then
      configured=false
    fi
    if [ -n "$switch" ]; then
      eval "value=\${${switch}_PLUGIN_ENABLED}"
      if ! is_true "${switch}_PLUGIN_ENABLED" "$value"; then
        say "plugin $file switched off (${switch}_PLUGIN_ENABLED=$value)"
        continue
      fi
      [ "$configured" = true ] \
        || say "plugin $file switched on, but the configuration has no $needs: it loads and does nothing"
      [ "$sets" = - ] || echo "set $sets"
    else
      case $default in
        off)
          echo "skip $file (${1:-$compact}_PLUGIN_ENABLED=true loads it)"
          continue ;;
        configured)
          if [ "$configured" = false ]; then
            echo "skip $file (no $needs configuration)"
            continue
          fi ;;
      esac
    fi
    echo "load $so"
  done
}

# Orthanc with the image's configuration; the arguments are Orthanc options.
start_orthanc() {
  runtime_folder || fail "cannot write the runtime folder $run as uid $(id -u) (with --read-only, add --tmpfs /tmp)"
  umask 077
  config=$run/orthanc.json
  {
    for file in /etc/orthanc/*.json; do
      [ -e "$file" ] && read_config "$file"
    done
    settings
    if [ -f "$users_file" ]; then
      jq -e 'if type == "object" then {RegisteredUsers: .} else error("not an object") end' "$users_file" \
        2>/dev/null || fail "$users_file: want a JSON object {\"user\": \"password\"} (the file is not shown)"
    fi
    if [ -n "${ORTHANC_JSON:-}" ]; then
      jq -n 'env.ORTHANC_JSON | fromjson | objects' 2>/dev/null || fail "ORTHANC_JSON: want a JSON object"
    fi
  } > "$config.parts"
  merge < "$config.parts" > "$config.merged"
  rm -f "$config.parts"
  choices=$(choose_plugins "$config.merged") || exit 1
  skipped=$(printf '%s\n' "$choices" | sed -n 's/^skip //p' | paste -s -d ';' | sed 's/;/, /g')
  [ -z "$skipped" ] || say "plugins not loaded by default: $skipped"
  jq --arg choices "$choices" --arg dir "$plugin_dir" '
    ($choices | split("\n") | map(select(. != "") | split(" ") | {(.[0]): .[1]})) as $c
    | reduce ($c[] | .set // empty) as $p (.; if getpath($p | split(".")) == null
                                              then setpath($p | split("."); true) else . end)
    | .Plugins = ([$c[] | .load // empty] + [(.Plugins // [])[] | select(rtrimstr("/") != $dir)])' \
    "$config.merged" > "$config"
  rm -f "$config.merged"
  access=$(check_access "the image's configuration" < "$config") || exit 1
  if [ "$access" = allowed ] && [ "$(jq '.RegisteredUsers // {} | length' "$config")" = 0 ]; then
    jq '.AuthenticationEnabled = false' "$config" > "$config.new" && mv "$config.new" "$config"
  fi
  write_probe < "$config"
  # Orthanc's files are group 0's, read-write (umask 007), so that any uid of group 0 may use
  # them; SQLite makes its index 0644 less the umask, whatever the umask allows: an empty index
  # made beforehand, group-writable, is one SQLite takes as it is (unless a database plugin
  # holds the index).
  index_dir=$(jq -r 'if ([.Plugins[]? | select(test("/lib(OrthancPostgreSQL|OrthancMySQL)Index"))] | length) > 0
                        and (.PostgreSQL.EnableIndex == true or .MySQL.EnableIndex == true)
                     then empty else .IndexDirectory // empty end' "$config")
  if [ -n "$index_dir" ] && [ -d "$index_dir" ] && [ -w "$index_dir" ] && [ ! -e "$index_dir/index" ]; then
    (umask 007 && : > "$index_dir/index")
  fi
  if is_true TRACE_ENABLED "${TRACE_ENABLED:-false}"; then
    set -- --trace "$@"
  elif is_true VERBOSE_ENABLED "${VERBOSE_ENABLED:-false}"; then
    set -- --verbose "$@"
  fi
  umask 007
  exec /usr/sbin/Orthanc "$@" "$config"
}

# A user's own Orthanc command line: check the configuration it names, then run it.
start_own_orthanc() {
  program=$1
  shift
  configs=''
  skip=false
  for arg; do
    if [ "$skip" = true ]; then skip=false; continue; fi
    case $arg in
      --logdir|--logfile|--config|--advanced-config|--openapi|--cheatsheet) skip=true ;;
      -*) ;;
      *) configs="$configs$arg
" ;;
    esac
  done
  umask 077
  own=$(
    IFS='
'
    set -f
    # shellcheck disable=SC2086
    read_config $configs
  ) || exit 1
  own=$(printf '%s\n' "$own" | merge)
  what=$(printf '%s' "$configs" | tr '\n' ' ' | sed 's/ $//')
  printf '%s\n' "$own" | check_access "${what:-Orthanc's defaults}" >/dev/null || exit 1
  if runtime_folder; then
    printf '%s\n' "$own" | write_probe
  fi
  umask 007
  exec "$program" "$@"
}

if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then
  case $1 in
    /usr/sbin/Orthanc|Orthanc) start_own_orthanc "$@" ;;
    *)
      say "running '$1' as given: no Orthanc configuration is made or checked"
      exec "$@" ;;
  esac
fi
start_orthanc "$@"
