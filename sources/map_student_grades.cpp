#include <map>
#include <iostream>
#include <string>

int main() {
    std::map<std::string, int> grades;
    grades["Oliver"] = 78;
    grades["Emma"] = 92;
    grades["Liam"] = 85;
    grades["Sophia"] = 88;
    grades["Liam"] = 90;
    int total = 0;
    std::string best;
    int bestGrade = -1;
    for (const auto& [name, grade] : grades) {
        std::cout << name << " -> " << grade << std::endl;
        total += grade;
        if (grade > bestGrade) {
            bestGrade = grade;
            best = name;
        }
    }
    std::cout << "Best student: " << best << " with " << bestGrade << std::endl;
    std::cout << "Average grade: " << total / static_cast<int>(grades.size()) << std::endl;
    std::cout << "Has Noah? " << (grades.count("Noah") ? "yes" : "no") << std::endl;
    return 0;
}
