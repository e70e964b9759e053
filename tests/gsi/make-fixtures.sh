#!/usr/bin/env bash
# GSI test fixtures, made fresh by the test suite in a temp dir (usage: make-fixtures.sh DIR):
#   certificates/   trust dir: <hash>.0 (test CA), <hash>.signing_policy, <hash>.r0 (CRL)
#   host/           hostcert.pem + hostkey.pem, CN=localhost (SAN DNS:localhost, IP:127.0.0.1)
#   users/<name>/   usercert.pem + userkey.pem for: user (mapped), unmapped, revoked, expired
#   proxies/        RFC 3820 proxies from grid-proxy-init: user, unmapped, revoked, limited,
#                   and one from an untrusted CA; "expired" is a proxy of an expired EEC
#   grid-mapfile    "/O=Test/OU=griddock/CN=Test User" mapped to the account "gsiuser"
set -euo pipefail
OUT=$1
mkdir -p "$OUT"/{ca,rogue,certificates,host,users,proxies}
cd "$OUT"
CA_DN="/O=Test/OU=griddock/CN=Test CA"

conf() {  # dir
cat >"$1/openssl.cnf" <<CNF
[ req ]
distinguished_name = dn
prompt             = no
[ dn ]
[ v3_ca ]
basicConstraints       = critical,CA:true
keyUsage               = critical,keyCertSign,cRLSign
subjectKeyIdentifier   = hash
[ v3_host ]
basicConstraints       = critical,CA:false
keyUsage               = critical,digitalSignature,keyEncipherment
extendedKeyUsage       = serverAuth,clientAuth
subjectAltName         = DNS:localhost,IP:127.0.0.1
[ v3_user ]
basicConstraints       = critical,CA:false
keyUsage               = critical,digitalSignature,keyEncipherment,dataEncipherment
extendedKeyUsage       = clientAuth
[ ca ]
default_ca = testca
[ testca ]
dir              = $OUT/$1
database         = \$dir/index.txt
crlnumber        = \$dir/crlnumber
certificate      = \$dir/ca.pem
private_key      = \$dir/ca.key
new_certs_dir    = \$dir
serial           = \$dir/serial
default_md       = sha256
default_crl_days = 30
policy           = anything
copy_extensions  = none
[ anything ]
organizationName       = optional
organizationalUnitName = optional
commonName             = supplied
CNF
: >"$1/index.txt"; echo 01 >"$1/crlnumber"; echo 1000 >"$1/serial"
}

make_ca() {  # dir subject
  conf "$1"
  openssl req -x509 -new -newkey rsa:2048 -sha256 -days 3650 -nodes -config "$1/openssl.cnf" \
    -extensions v3_ca -subj "$2" -keyout "$1/ca.key" -out "$1/ca.pem" 2>/dev/null
}

issue() {  # ca-dir out-dir prefix subject ext [startdate enddate]
  local ca=$1 d=$2 n=$3 subj=$4 ext=$5
  mkdir -p "$d"
  openssl req -new -newkey rsa:2048 -sha256 -nodes -subj "$subj" -config "$ca/openssl.cnf" \
    -keyout "$d/${n}key.pem" -out "$d/${n}req.pem" 2>/dev/null
  local dates=(-days 365)
  if [ $# -ge 7 ]; then dates=(-startdate "$6" -enddate "$7"); fi
  openssl ca -batch -notext -config "$ca/openssl.cnf" -extensions "$ext" "${dates[@]}" \
    -in "$d/${n}req.pem" -out "$d/${n}cert.pem" 2>/dev/null
  rm -f "$d/${n}req.pem"
  chmod 0400 "$d/${n}key.pem"
}

make_ca ca "$CA_DN"
make_ca rogue "/O=Rogue/CN=Rogue CA"
HASH=$(openssl x509 -in ca/ca.pem -noout -subject_hash)
cp ca/ca.pem "certificates/$HASH.0"
cat >"certificates/$HASH.signing_policy" <<POL
access_id_CA   X509   '$CA_DN'
pos_rights     globus CA:sign
cond_subjects  globus '"/O=Test/OU=griddock/*"'
POL

issue ca host host "/O=Test/OU=griddock/CN=localhost" v3_host
chmod 0600 host/hostkey.pem
issue ca users/user user "/O=Test/OU=griddock/CN=Test User" v3_user
issue ca users/unmapped user "/O=Test/OU=griddock/CN=Unmapped User" v3_user
issue ca users/revoked user "/O=Test/OU=griddock/CN=Revoked User" v3_user
issue ca users/expired user "/O=Test/OU=griddock/CN=Expired User" v3_user 20200101000000Z 20210101000000Z
issue rogue users/rogue user "/O=Test/OU=griddock/CN=Test User" v3_user

openssl ca -batch -config ca/openssl.cnf -revoke users/revoked/usercert.pem 2>/dev/null
openssl ca -batch -config ca/openssl.cnf -gencrl -out ca/crl.pem 2>/dev/null
cp ca/crl.pem "certificates/$HASH.r0"

proxy() {  # user-dir out [extra grid-proxy-init args]
  local u=$1 out=$2; shift 2
  env -u X509_USER_PROXY X509_CERT_DIR="$OUT/certificates" grid-proxy-init -q -rfc -pwstdin \
    -valid 12:00 -bits 2048 -cert "users/$u/usercert.pem" -key "users/$u/userkey.pem" \
    -certdir "$OUT/certificates" -out "proxies/$out" "$@" </dev/null
}
proxy user user
proxy user limited -limited
proxy unmapped unmapped
# grid-proxy-init verifies the EEC first; for the refusal cases build the proxies without
# that check by pointing it at a trust dir that accepts them.
mkdir -p lenient
cp "certificates/$HASH.0" "certificates/$HASH.signing_policy" lenient/
RHASH=$(openssl x509 -in rogue/ca.pem -noout -subject_hash)
cp rogue/ca.pem "lenient/$RHASH.0"
printf "access_id_CA X509 '/O=Rogue/CN=Rogue CA'\npos_rights globus CA:sign\ncond_subjects globus '\"/O=Test/OU=griddock/*\"'\n" >"lenient/$RHASH.signing_policy"
lenient() {  # user-dir out
  env -u X509_USER_PROXY X509_CERT_DIR="$OUT/lenient" grid-proxy-init -q -rfc -pwstdin \
    -valid 12:00 -bits 2048 -cert "users/$1/usercert.pem" -key "users/$1/userkey.pem" \
    -certdir "$OUT/lenient" -out "proxies/$2" </dev/null
}
lenient revoked revoked
lenient rogue rogue
# An expired EEC cannot make a proxy with grid-proxy-init: sign one with openssl instead.
openssl req -new -newkey rsa:2048 -nodes -subj "/O=Test/OU=griddock/CN=Expired User/CN=proxy" \
  -keyout proxies/expired.key -out proxies/expired.req 2>/dev/null
openssl x509 -req -in proxies/expired.req -CA users/expired/usercert.pem \
  -CAkey users/expired/userkey.pem -set_serial 7 -days 1 -out proxies/expired.crt 2>/dev/null
cat proxies/expired.crt proxies/expired.key users/expired/usercert.pem >proxies/expired
chmod 0600 proxies/*

printf '"/O=Test/OU=griddock/CN=Test User" gsiuser\n"/O=Test/OU=griddock/CN=Revoked User" gsiuser\n"/O=Test/OU=griddock/CN=Expired User" gsiuser\n' >grid-mapfile
echo "fixtures ready in $OUT"
