#!/usr/bin/env bash
# Makes the fuzz targets' repositories, DIR/repo.git and DIR/push.git, the
# same on every run: the seed requests name their object ids, so identity,
# dates and configuration are all fixed. Used by the targets at start-up and by
# make_corpus.py, so that both see the same objects.
set -euo pipefail
dir=$1
export GIT_AUTHOR_NAME="A U Thor" GIT_AUTHOR_EMAIL=author@example.com
export GIT_COMMITTER_NAME="C O Mitter" GIT_COMMITTER_EMAIL=committer@example.com
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export TZ=UTC

when=1700000000
commit() {
    when=$((when + 3600))
    GIT_AUTHOR_DATE="@$when +0000" GIT_COMMITTER_DATE="@$when +0000" git commit -q "$@"
}

rm -rf "$dir/work" "$dir/repo.git"
git init -q -b main "$dir/work"
cd "$dir/work"
mkdir -p src doc
for i in 1 2 3 4 5 6 7 8; do
    seq 1 $((i * 40)) > src/numbers.txt
    echo "release note $i" >> doc/notes.txt
    printf 'blob %d\n' "$i" > "doc/page$((i % 3)).txt"
    git add -A
    commit -m "commit $i"
done
git checkout -q -b side HEAD~4
echo "side work" > side.txt
git add side.txt
commit -m "side 1"
git checkout -q main
commit --allow-empty -m "before merge"
GIT_COMMITTER_DATE="@$((when + 10))" GIT_AUTHOR_DATE="@$((when + 10))" \
    git merge -q --no-ff -m "merge side" side
when=$((when + 100))
GIT_COMMITTER_DATE="@$when +0000" git tag -a -m "version one" v1 HEAD~3
git tag light HEAD~5

git clone -q --bare "$dir/work" "$dir/repo.git"
cd "$dir/repo.git"
git update-ref refs/hidden/secret "$(git rev-parse main~6)"
git config uploadpack.hideRefs refs/hidden
git config uploadpack.allowFilter true
git config uploadpack.allowRefInWant true
git config uploadpack.allowSidebandAll true
git config pack.writeReverseIndex true
git repack -q -a -d -b
touch git-daemon-export-ok
rm -rf "$dir/work"

# The push target's repository (fuzz_receive_request): the same objects and
# refs, receive-pack on for anyone, refs/hidden hidden from push too, push
# options advertised; no sample hooks, so that the copy the target puts back
# after an input is small.
cp -R "$dir/repo.git" "$dir/push.git"
cd "$dir/push.git"
rm -rf hooks description info
git config http.receivepack true
git config receive.hideRefs refs/hidden
git config receive.advertisePushOptions true
